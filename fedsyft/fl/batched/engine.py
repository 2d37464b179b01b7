"""The batched client engine: all selected clients trained as one ``torch.func`` program.

:func:`train_clients_batched` returns, for every client, what
:func:`~fedsyft.fl.client.local_train` returns when run on its own copy of the model
(``num_samples``, ``loss``, ``steps``, and ``control_delta`` with SCAFFOLD), plus ``state``:
the client's trained ``state_dict``. The arithmetic is the same (within float rounding):

- the same batches in the same order, from the same seeds (:mod:`.schedule`);
- clients whose shards differ in size: a client that has run out of batches takes no step
  (it is simply not in the step's group, its state is not touched); a client's last,
  shorter batch of an epoch is run in a group of clients with that same batch size, so
  batch norm and the loss see exactly the samples ``local_train`` would;
- FedProx (``prox_mu``) adds ``mu * (w - w_global)`` to the gradient; SCAFFOLD subtracts
  ``lr * (c - c_i)`` after the optimizer step, and ``control_delta`` is computed as
  ``local_train`` does;
- per-client optimizer state (:mod:`.optim`) and batch-norm buffers;
- parameters that ``local_train``'s optimizer would skip (no gradient: unused, or
  ``requires_grad=False``) are found by one ordinary backward pass and left untouched.

Dropout draws a different mask for every client (``vmap(randomness="different")``) from a
generator seeded with the chunk's first client seed: reproducible, independent across
clients, but not the same masks as the sequential path (see :mod:`.step`).

``max_parallel`` trains at most that many clients at once (chunks run one after another),
so that 1,000 clients need only ``max_parallel`` copies of the model in memory. On CUDA the
data is moved to the GPU once (:class:`DataPool`) and the step is captured in a CUDA graph
(:mod:`.graph`), one per batch size met (the full size and the epochs' last, shorter
batches), for all K clients with a mask: clients whose batch at that step has another size,
or who have finished, run the step on placeholder rows and keep their old state (a mask,
never fake samples). A model whose step cannot be captured runs eagerly, with a warning.

On the CPU, convolutions run as channels-last grouped convolutions (:mod:`.conv`), and
``compile=True`` sends the all-clients step through :func:`torch.compile`; on a 2-core CPU
the eager engine measured 1.1-1.3x and the compiled one 2.1-2.7x the speed of sequential
``local_train`` for the McMahan 2NN and simple-cnn with B=10 (``benchmarks/batched_speed.py``).

A model that ``torch.func`` cannot run per client (data-dependent Python control flow,
``.item()`` in ``forward``, in-place updates the functional path cannot batch) raises
:class:`NotBatchableError` with the reason; callers fall back to the workers path.

Example
-------
>>> from torch import nn
>>> from fedsyft.fl.client import ClientConfig
>>> torch.manual_seed(0)  # doctest: +ELLIPSIS
<torch._C.Generator object at ...>
>>> m = nn.Sequential(nn.Linear(4, 2), nn.LogSoftmax(dim=1))
>>> shards = [(torch.randn(8, 4), torch.randint(0, 2, (8,))), (torch.randn(5, 4), torch.randint(0, 2, (5,)))]
>>> out = train_clients_batched(m, shards, ClientConfig(batch_size=4), seeds=[0, 1])
>>> [(r["num_samples"], r["steps"]) for r in out]
[(8, 2), (5, 2)]
>>> sorted(out[0]["state"])
['0.bias', '0.weight']
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..client import ClientConfig
from .conv import use_fast_conv
from .graph import capture as capture_graph
from .optim import StackedOptimizer
from .schedule import Schedule, build_schedule
from .stack import put, replicate, take
from .step import make_grad_fn

Controls = tuple[Mapping[str, torch.Tensor], Sequence[Mapping[str, torch.Tensor]]]


MAX_GRAPHS = 16  # captured steps per workspace (one per batch size); more sizes run eagerly


class NotBatchableError(RuntimeError):
    """The model cannot be trained by the batched engine; the message says why."""


class DataPool:
    """All clients' samples in one tensor on one device, moved there once.

    Parameters
    ----------
    datasets: one ``(data, targets)`` pair per client.
    device: where the pool lives (default: the first client's data device).

    Example
    -------
    >>> pool = DataPool([(torch.zeros(3, 2), torch.zeros(3)), (torch.ones(2, 2), torch.ones(2))])
    >>> pool.sizes, pool.offsets
    ([3, 2], [0, 3])
    """

    def __init__(self, datasets: Sequence[tuple[torch.Tensor, torch.Tensor]], *,
                 device: torch.device | str | None = None) -> None:
        if len(datasets) == 0:
            raise ValueError("datasets is empty; pass one (data, targets) pair per client.")
        for i, pair in enumerate(datasets):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError(f"datasets[{i}] must be a (data, targets) pair of tensors, got {type(pair).__name__}.")
            if len(pair[0]) != len(pair[1]):
                raise ValueError(f"datasets[{i}] has {len(pair[0])} samples but {len(pair[1])} targets.")
        device = torch.device(device) if device is not None else datasets[0][0].device
        self.device = device
        self.sizes = [len(t) for _, t in datasets]
        self.offsets = [0]
        for n in self.sizes[:-1]:
            self.offsets.append(self.offsets[-1] + n)
        self.data = torch.cat([torch.as_tensor(d) for d, _ in datasets]).to(device)
        self.targets = torch.cat([torch.as_tensor(t) for _, t in datasets]).to(device).long()

    def __len__(self) -> int:
        return len(self.sizes)


class _Workspace:
    """The stacked state of one chunk of K clients, allocated once and reused."""

    def __init__(self, engine: BatchedEngine, k: int) -> None:
        self.k = k
        tpl = engine.template
        self.params = replicate(dict(tpl.named_parameters()), k)
        self.buffers = replicate(dict(tpl.named_buffers()), k)
        self.opt_state = engine.opt.init({n: self.params[n] for n in engine.trainable})
        self.loss_sum = torch.zeros(k, dtype=torch.float64, device=engine.device)
        self.start = ({n: torch.zeros_like(p[0]) for n, p in self.params.items()}
                      if engine.prox_mu or engine.scaffold else {})
        self.corr = ({n: torch.zeros_like(p) for n, p in self.params.items()}
                     if engine.scaffold else None)
        # On CUDA: one captured step per batch size, {size: (replay, static inputs)}; a
        # failed capture sets ``capture_failed`` (the reason) and the chunk runs eagerly.
        self.graphs: dict[int, tuple[Any, dict[str, torch.Tensor]]] = {}
        self.capture_failed: str | None = None

    @property
    def capture_note(self) -> str:
        if self.capture_failed:
            return self.capture_failed
        return f"captured (batch sizes {sorted(self.graphs)})" if self.graphs else "eager"

    def state_dicts(self) -> list[dict[str, torch.Tensor]]:
        return [self.params, self.buffers, self.opt_state, {"loss_sum": self.loss_sum}]


class BatchedEngine:
    """Trains chunks of clients with one vmapped step; reusable across rounds.

    Parameters
    ----------
    model: the architecture (its values are taken from ``global_model`` at every call).
    config: local training settings (as for :func:`~fedsyft.fl.client.local_train`).
    prox_mu: FedProx's mu (0: off).
    scaffold: whether SCAFFOLD controls will be passed.
    max_parallel: at most this many clients per chunk (``None``: all at once).
    device: where to train (default: the model's device).
    capture: capture the full-batch step in a CUDA graph (``None``: on CUDA, yes).
    fast_conv: run ``nn.Conv2d`` layers as channels-last grouped convolutions (see
        :mod:`.conv`; ``None``: on the CPU, yes).
    compile: compile the all-clients step with :func:`torch.compile` (inductor fuses the
        optimizer's and the layers' elementwise work). It pays off in long runs: compiling
        takes tens of seconds to minutes on a small CPU, once per engine and batch shape.
        Partial batches still run eagerly; on CUDA the captured graphs are used instead.
    """

    def __init__(self, model: nn.Module, config: ClientConfig, *, prox_mu: float = 0.0,
                 scaffold: bool = False, max_parallel: int | None = None,
                 device: torch.device | str | None = None, capture: bool | None = None,
                 fast_conv: bool | None = None, compile: bool = False) -> None:
        if not isinstance(config, ClientConfig):
            raise TypeError(f"config must be a ClientConfig, got {type(config).__name__}.")
        if max_parallel is not None and (not isinstance(max_parallel, int) or max_parallel < 1):
            raise ValueError(f"max_parallel must be an integer >= 1 or None, got {max_parallel!r}.")
        if prox_mu < 0:
            raise ValueError(f"prox_mu must be >= 0, got {prox_mu!r}.")
        first = next(iter(model.parameters()), None)
        if first is None:
            raise ValueError("The model has no parameters; there is nothing to train.")
        self.device = torch.device(device) if device is not None else first.device
        self.config, self.prox_mu, self.scaffold = config, float(prox_mu), scaffold
        self.max_parallel = max_parallel
        self.capture = self.device.type == "cuda" if capture is None else bool(capture)
        self.template = copy.deepcopy(model).to(self.device).train()
        if (self.device.type == "cpu" and not compile) if fast_conv is None else fast_conv:
            use_fast_conv(self.template)
        for p in self.template.parameters():
            p.requires_grad_(False)  # its tensors are never trained; functional_call swaps them
        self.param_names = [n for n, _ in model.named_parameters()]
        self.opt = StackedOptimizer.from_config(config)
        self.grad_fn = make_grad_fn(self.template)
        self.trainable: list[str] = []
        self._probed = False
        self._spaces: dict[int, _Workspace] = {}
        self._emulate_capture = False  # tests: run the capturable masked step on the CPU
        self._compiled = None
        if compile:  # the all-clients step, compiled once per batch shape (see the class doc)
            self._compiled = torch.compile(self._core, dynamic=False)
            self._step_t = torch.zeros((), dtype=torch.float32, device=self.device)
        self.notes: list[str] = []

    # -- checks -------------------------------------------------------------------------
    def probe(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
        """Run one batched step on two clients' copies of a few samples; raise
        :class:`NotBatchableError` with the reason if ``torch.func`` cannot run the model.
        Also finds the parameters that get no gradient (left untouched, as torch's
        optimizers do)."""
        ref = copy.deepcopy(model).to(self.device).train()
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            try:
                F.nll_loss(ref(x), y).backward()
            except Exception as exc:
                raise NotBatchableError(
                    f"The model failed an ordinary training step on {len(y)} samples "
                    f"({type(exc).__name__}: {exc}); fix the model or the data first.") from exc
            self.trainable = [n for n, p in ref.named_parameters() if p.grad is not None]
            try:
                params = replicate({n: p.detach() for n, p in self.template.named_parameters()}, 2)
                buffers = replicate(dict(self.template.named_buffers()), 2)
                self.grad_fn(params, buffers, x.unsqueeze(0).expand(2, *x.shape),
                             y.unsqueeze(0).expand(2, *y.shape))
            except Exception as exc:
                raise NotBatchableError(
                    f"{type(model).__name__} cannot be trained per client with torch.func "
                    f"(functional_call + vmap + grad): {type(exc).__name__}: {exc}. Typical causes: "
                    "Python control flow on tensor values, .item() in forward, or in-place "
                    "updates of buffers. Use backend='workers' for this model.") from exc
        self._probed = True

    # -- training -----------------------------------------------------------------------
    def train(self, global_model: nn.Module, pool: DataPool, *, clients: Sequence[int] | None = None,
              seeds: Sequence[int], controls: Controls | None = None) -> list[dict[str, Any]]:
        """Train ``clients`` (indices into ``pool``; default all) from ``global_model``'s state."""
        clients = list(range(len(pool))) if clients is None else [int(c) for c in clients]
        if len(seeds) != len(clients):
            raise ValueError(f"seeds has {len(seeds)} entries for {len(clients)} clients; pass one seed per client.")
        if controls is not None:
            if not self.scaffold:
                raise ValueError("controls were given but the engine was built with scaffold=False.")
            c_global, c_clients = controls
            if len(c_clients) != len(clients):
                raise ValueError(f"controls has {len(c_clients)} client control variates for "
                                 f"{len(clients)} clients; pass (c_global, [c_i per client]).")
        elif self.scaffold:
            raise ValueError("scaffold=True needs controls=(c_global, [c_i per client]).")
        if not self._probed:
            rows = torch.arange(min(len(pool.targets), max(2, min(self.config.batch_size, 4))),
                                device=pool.device)
            if len(rows) == 0:
                raise ValueError("All clients' datasets are empty; there is nothing to train.")
            self.probe(global_model, pool.data[rows], pool.targets[rows])
        g_params = {n: p.detach().to(self.device) for n, p in global_model.named_parameters()}
        g_buffers = {n: b.detach().to(self.device) for n, b in global_model.named_buffers()}
        chunk = self.max_parallel or len(clients)
        out: list[dict[str, Any]] = []
        for lo in range(0, len(clients), chunk):
            sl = slice(lo, lo + chunk)
            ctrl = None if controls is None else (controls[0], list(controls[1][sl]))
            out += self._train_chunk(pool, clients[sl], list(seeds[sl]), g_params, g_buffers, ctrl)
        return out

    def _workspace(self, k: int) -> _Workspace:
        if k not in self._spaces:
            self._spaces = {k: _Workspace(self, k)} if len(self._spaces) >= 2 else {**self._spaces, k: _Workspace(self, k)}
        return self._spaces[k]

    def _core(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
              opt_state: dict[str, torch.Tensor], loss_sum: torch.Tensor, start: dict[str, torch.Tensor],
              corr: dict[str, torch.Tensor] | None, x: torch.Tensor, y: torch.Tensor,
              step: int | torch.Tensor) -> None:
        """One local step of the clients whose stacks are given, in place on them."""
        grads, losses, new_buffers = self.grad_fn(params, buffers, x, y)
        grads = {n: grads[n] for n in self.trainable}
        if self.prox_mu:  # the gradient of mu/2 * ||w - w_global||^2, as local_train adds it
            for n, g in grads.items():
                g.add_(params[n] - start[n], alpha=self.prox_mu)
        self.opt.step_(params, grads, opt_state, step=step)
        if corr is not None:  # SCAFFOLD, after the optimizer step
            for n, w in params.items():
                w.sub_(corr[n])
        for n, v in new_buffers.items():
            buffers[n].copy_(v)
        loss_sum.add_(losses.double() * y.shape[1])

    def _step(self, ws: _Workspace, index: torch.Tensor | None, x: torch.Tensor, y: torch.Tensor,
              step: int | torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """One local step of the clients in ``index`` (``None``: all; ``mask``: only those
        where it is True), written in place into the workspace."""
        if index is None and mask is None:  # every client: in place on the stacks
            if self._compiled is not None:
                self._step_t.fill_(step)
                self._compiled(ws.params, ws.buffers, ws.opt_state, ws.loss_sum, ws.start, ws.corr,
                               x, y, self._step_t)
            else:
                self._core(ws.params, ws.buffers, ws.opt_state, ws.loss_sum, ws.start, ws.corr, x, y, step)
            return
        # A subset (gathered copies) or a mask (copies): step them, then write them back.
        copies = [take(d, index) for d in (ws.params, ws.buffers, ws.opt_state)]
        if index is None:
            copies = [{n: v.clone() for n, v in d.items()} for d in copies]
        params, buffers, opt_state = copies
        corr = None if ws.corr is None else take(ws.corr, index)
        loss = torch.zeros(len(x), dtype=torch.float64, device=x.device)
        self._core(params, buffers, opt_state, loss, ws.start, corr, x, y, step)
        put(ws.params, index, params, mask)
        put(ws.opt_state, index, opt_state, mask)
        put(ws.buffers, index, buffers, mask)
        if mask is not None:
            loss = torch.where(mask, loss, torch.zeros_like(loss))
        if index is None:
            ws.loss_sum.add_(loss)
        else:
            ws.loss_sum.index_add_(0, index, loss)

    def _graph(self, ws: _Workspace, pool: DataPool, bsz: int):
        """The captured step of all K clients for batches of ``bsz`` samples (clients with
        another batch size at that step are masked out); ``None`` if it cannot be had."""
        if bsz in ws.graphs:
            return ws.graphs[bsz]
        if ws.capture_failed or len(ws.graphs) >= MAX_GRAPHS:
            return None
        dev = self.device
        st = {"x": pool.data[:1].expand(ws.k, bsz, *pool.data.shape[1:]).clone(),
              "y": pool.targets[:1].expand(ws.k, bsz).clone(),
              "mask": torch.ones(ws.k, dtype=torch.bool, device=dev),
              "step": torch.ones((), dtype=torch.float32, device=dev)}
        def step() -> None:
            self._step(ws, None, st["x"], st["y"], st["step"], st["mask"])

        replay: Callable[[], None] | None
        if self._emulate_capture:  # tests on the CPU: the same static, masked step, not captured
            replay, note = step, "emulated"
        else:
            replay, note = capture_graph(step, ws.state_dicts(), device=dev)
        if replay is None:
            ws.capture_failed = note
            self.notes.append(note)
            warnings.warn(f"batched engine: {note}", RuntimeWarning, stacklevel=4)
            return None
        ws.graphs[bsz] = (replay, st)
        return ws.graphs[bsz]

    def _train_chunk(self, pool: DataPool, clients: list[int], seeds: list[int],
                     g_params: dict[str, torch.Tensor], g_buffers: dict[str, torch.Tensor],
                     controls: Controls | None) -> list[dict[str, Any]]:
        cfg, k, dev = self.config, len(clients), self.device
        sched: Schedule = build_schedule([pool.sizes[c] for c in clients],
                                         [pool.offsets[c] for c in clients], cfg, seeds)
        ws = self._workspace(k)
        for n, v in ws.params.items():
            v.copy_(g_params[n].unsqueeze(0).expand_as(v))
        for n, v in ws.buffers.items():
            v.copy_(g_buffers[n].unsqueeze(0).expand_as(v))
        for v in ws.opt_state.values():
            v.zero_()
        ws.loss_sum.zero_()
        for n, v in ws.start.items():
            v.copy_(g_params[n])
        if controls is not None and ws.corr is not None:
            c_global, c_clients = controls
            for n, v in ws.corr.items():  # local_train: p -= lr * (c_global - c_client)
                v.copy_(torch.stack([(cfg.lr * (c_global[n].to(dev) - c[n].to(dev))) for c in c_clients]))
        index = sched.index.to(dev)
        use_graph = self.capture and (dev.type == "cuda" or self._emulate_capture)
        if use_graph:
            safe_index = index.clamp_min(0)  # rows of masked-out clients: any valid sample
            sizes = sched.sizes.to(dev)
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(int(seeds[0]) if seeds else 0)
            for t, groups in enumerate(sched.groups):
                for bsz, rows in groups:
                    graph = self._graph(ws, pool, bsz) if use_graph else None
                    if graph is not None:
                        replay, st = graph
                        rows_t = safe_index[:, t, :bsz]
                        st["x"].copy_(pool.data[rows_t])
                        st["y"].copy_(pool.targets[rows_t])
                        torch.eq(sizes[:, t], bsz, out=st["mask"])
                        st["step"].fill_(t + 1)
                        replay()
                        continue
                    rows_dev = None if rows is None else rows.to(dev)
                    idx = index[:, t, :bsz] if rows is None else index[rows_dev, t, :bsz]
                    self._step(ws, rows_dev, pool.data[idx], pool.targets[idx], t + 1)
        return self._results(ws, sched, clients, pool, controls)

    def _results(self, ws: _Workspace, sched: Schedule, clients: list[int], pool: DataPool,
                 controls: Controls | None) -> list[dict[str, Any]]:
        cfg = self.config
        sd = self.template.state_dict(keep_vars=True)
        source = {id(t): n for n, t in [*self.template.named_parameters(), *self.template.named_buffers()]}
        loss_sum = ws.loss_sum.tolist()
        seen = sched.sizes.sum(1).tolist()
        out = []
        for row, c in enumerate(clients):
            n, steps = pool.sizes[c], sched.steps[row]
            state = {}
            for key, t in sd.items():
                name = source[id(t)]
                stackd = ws.params[name] if name in ws.params else ws.buffers[name]
                state[key] = stackd[row].clone()
            res: dict[str, Any] = {"num_samples": n,
                                   "loss": loss_sum[row] / max(seen[row], 1) if n else math.nan,
                                   "steps": steps, "state": state}
            if controls is not None and steps > 0:
                c_global = controls[0]  # c_i+ - c_i = -c + (x - y_i) / (K * lr), as local_train
                scale = 1.0 / (steps * cfg.lr)
                res["control_delta"] = {
                    name: (-c_global[name].to(self.device) + (ws.start[name] - ws.params[name][row]) * scale)
                    for name in self.param_names}
            out.append(res)
        return out


def train_clients_batched(model: nn.Module, datasets: Sequence[tuple[torch.Tensor, torch.Tensor]] | DataPool,
                          config: ClientConfig, *, seeds: Sequence[int], prox_mu: float = 0.0,
                          controls: Controls | None = None, max_parallel: int | None = None,
                          device: torch.device | str | None = None, capture: bool | None = None,
                          fast_conv: bool | None = None) -> list[dict[str, Any]]:
    """Train one copy of ``model`` per client, all at once; what ``local_train`` returns, plus ``state``.

    Parameters
    ----------
    model: the global model (not modified).
    datasets: one ``(data, targets)`` pair per client, or a :class:`DataPool`.
    config: local epochs, batch size, optimizer, ``max_steps``.
    seeds: one seed per client (as ``local_train``'s ``seed``).
    prox_mu: FedProx's mu.
    controls: SCAFFOLD's ``(c_global, [c_i for each client])``, keyed by parameter name.
    max_parallel: at most this many clients trained at once (memory); ``None``: all.
    device: where to train (default: the model's device); the data is moved there once.
    capture: capture the step in a CUDA graph (default: on CUDA).
    fast_conv: channels-last grouped convolutions (default: on the CPU; see :mod:`.conv`).

    Returns
    -------
    One dict per client, in order: ``num_samples``, ``loss``, ``steps``, ``state`` and, with
    SCAFFOLD, ``control_delta``.

    Raises
    ------
    NotBatchableError: the model cannot be run by ``torch.func`` (the message says why);
        train it with :func:`~fedsyft.fl.client.local_train` instead.
    """
    engine = BatchedEngine(model, config, prox_mu=prox_mu, scaffold=controls is not None,
                           max_parallel=max_parallel, device=device, capture=capture,
                           fast_conv=fast_conv)
    pool = datasets if isinstance(datasets, DataPool) else DataPool(datasets, device=engine.device)
    return engine.train(model, pool, seeds=seeds, controls=controls)
