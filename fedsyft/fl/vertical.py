"""Vertical federated learning with a split neural network (SplitNN).

In *horizontal* FL (the rest of :mod:`fedsyft.fl`) every client holds whole samples. In
*vertical* FL the parties hold different **features of the same samples** -- a bank and a
shop know different things about the same customers -- and one party holds the labels.

A split network cuts the model at a *cut layer*: each feature holder keeps the bottom part
that reads its own features, at its own worker; the label holder keeps the top part. One
training step:

1. the label holder picks a batch of (aligned) sample positions and sends them to the
   feature holders;
2. each feature holder runs its bottom model on its features and sends the *activations*
   at the cut layer (a pointer, fetched with ``get``: counted bytes);
3. the label holder runs the top model on the concatenated activations, computes the loss
   and backpropagates to the cut layer;
4. it sends each holder the *gradient* of the loss with respect to that holder's activations
   (``send``: counted bytes); the holder finishes backpropagation through its bottom model
   (``activation_ptr.backward(grad_ptr)``, at the worker) and steps its optimizer.

Raw features and labels never move; activations and gradients do (and they can leak
information about the features: split learning is not a formal privacy guarantee).

Before training the parties must agree which samples they share: **sample alignment by
ids**. :func:`psi_sketch` sketches a Diffie-Hellman private set intersection (Meadows 1986;
Huberman, Franklin and Hogg 1999) on X25519: each party blinds the hashes of its ids with a
secret scalar, the other blinds them again, and doubly blinded values are equal exactly for
common ids. It is a teaching sketch: no malicious-party checks, and the first party learns
the intersection (see the OpenMined PSI library for a maintained implementation).

Sources: Vepakomma, Gupta, Swedish and Raskar, "Split learning for health: Distributed deep
learning without sharing raw patient data" (2018); Yang, Liu, Chen and Tong, "Federated
Machine Learning: Concept and Applications" (2019), for horizontal, vertical and federated
transfer learning; the PyTorch FL + privacy article of the "Preserving Data Privacy in Deep
Learning" series family, which names the three kinds.

Example
-------
>>> import torch
>>> from torch import nn
>>> from fedsyft.workers import VirtualWorker
>>> a, b = VirtualWorker(id="vfl_doc_a"), VirtualWorker(id="vfl_doc_b")
>>> x, y = torch.randn(40, 1, 4, 4), torch.randint(0, 2, (40,))
>>> top, bottom = split_rows(x)
>>> parties = [FeatureHolder(a, ids=range(40), features=top), FeatureHolder(b, ids=range(40), features=bottom)]
>>> common = align(parties, label_ids=range(40))
>>> len(common)
40
>>> bottoms = [nn.Sequential(nn.Flatten(), nn.Linear(8, 3), nn.ReLU()) for _ in range(2)]
>>> net = SplitNN(bottoms, nn.Sequential(nn.Linear(6, 2), nn.LogSoftmax(dim=1)), parties, lr=0.1)
>>> stats = net.train_epoch(y, batch_size=10, seed=0)
>>> stats["steps"], stats["bytes_activations"]
(4, 960)
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..workers import BaseWorker, PointerTensor, get_module, send, send_module

# -- features -------------------------------------------------------------------------------


def split_rows(images: torch.Tensor, parts: int = 2) -> list[torch.Tensor]:
    """Cut images ``(N, C, H, W)`` into ``parts`` horizontal bands (top to bottom).

    Example
    -------
    >>> [t.shape[-2] for t in split_rows(torch.zeros(2, 1, 28, 28))]
    [14, 14]
    """
    if images.dim() != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}.")
    if not 1 <= parts <= images.shape[-2]:
        raise ValueError(f"parts must be between 1 and the image height {images.shape[-2]}, got {parts}.")
    return list(torch.tensor_split(images, parts, dim=-2))


# -- sample alignment: a sketch of Diffie-Hellman private set intersection --------------------
def _hash_point(i: Any) -> bytes:
    return hashlib.sha256(b"fedsyft-psi|" + str(i).encode()).digest()


class PSIParty:
    """One side of the DH-PSI sketch: holds its ids and a secret X25519 scalar.

    ``blind(ids)`` maps each id to ``secret * H(id)``; ``reblind(values)`` applies this party's
    secret to the other party's blinded values. Scalar multiplication commutes, so
    ``a*(b*H(x)) == b*(a*H(x))``: doubly blinded values match exactly for common ids,
    while a singly blinded value reveals nothing about the id without the secret.
    """

    def __init__(self, ids: Iterable[Any]) -> None:
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

        self.ids = list(ids)
        self._secret = X25519PrivateKey.generate()

    def _mul(self, point: bytes) -> bytes:
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

        return self._secret.exchange(X25519PublicKey.from_public_bytes(point))

    def blind(self) -> list[bytes]:
        return [self._mul(_hash_point(i)) for i in self.ids]

    def reblind(self, values: Sequence[bytes]) -> list[bytes]:
        return [self._mul(v) for v in values]


def psi_sketch(ids_a: Iterable[Any], ids_b: Iterable[Any], *, seed: int = 0) -> tuple[list[Any], int]:
    """The ids that two parties share, found without either sending its ids in the clear.

    Party A learns which of *its* ids are common; B learns only how many A has. The
    blinded lists are shuffled before they are sent (``seed``), so positions reveal nothing.
    Returns ``(common ids in A's order, bytes exchanged)``; each blinded id is 32 bytes.

    Example
    -------
    >>> psi_sketch([1, 2, 3, 5], [5, 3, 8])[0]
    [3, 5]
    """
    a, b = PSIParty(ids_a), PSIParty(ids_b)
    rng = np.random.default_rng(seed)
    a_blind = a.blind()                                  # A -> B: a*H(x) for A's ids
    b_own = b.blind()
    b_blind = [b_own[j] for j in rng.permutation(len(b_own))]  # B -> A: b*H(y), shuffled
    ab = b.reblind(a_blind)                              # B -> A: b*a*H(x), in A's order
    ba = set(a.reblind(b_blind))                         # A: a*b*H(y)
    common = [i for i, v in zip(a.ids, ab) if v in ba]
    return common, 32 * (len(a_blind) + len(b_blind) + len(ab))


# -- the parties ------------------------------------------------------------------------------
@dataclass
class FeatureHolder:
    """A party holding some features of some samples, at its worker.

    Parameters
    ----------
    worker: where the features live (they are sent there, private, on construction).
    ids: the sample ids of the rows of ``features`` (known to this party).
    features: a tensor, one row per id (sent to ``worker`` and marked private), or a pointer.
    """

    worker: BaseWorker
    ids: Sequence[Any]
    features: Any
    aligned: Any = field(default=None, repr=False)  # pointer to the rows of the common ids, in order

    def __post_init__(self) -> None:
        self.ids = list(self.ids)
        if not isinstance(self.features, PointerTensor):
            if len(self.features) != len(self.ids):
                raise ValueError(f"features has {len(self.features)} rows but {len(self.ids)} ids were given; "
                                 f"give one id per row.")
            self.features = send(self.features, self.worker, private=True)
        if len(set(self.ids)) != len(self.ids):
            raise ValueError(f"The ids of {self.worker.id}'s features are not unique; give one id per sample.")


def align(parties: Sequence[FeatureHolder], label_ids: Iterable[Any], *, use_psi: bool = True,
          seed: int = 0) -> list[Any]:
    """Agree on the common samples and line every party's rows up in the same order.

    The label holder intersects its ids with each feature holder's (with :func:`psi_sketch`,
    or in the clear with ``use_psi=False``); the common ids are sorted, and each holder
    indexes its own features at its worker (``party.aligned``). Returns the common ids:
    row ``k`` of every party's aligned features and label ``k`` describe the same sample.
    """
    common = list(label_ids)
    for p in parties:
        common = psi_sketch(common, p.ids, seed=seed)[0] if use_psi else [i for i in common if i in set(p.ids)]
    if not common:
        raise ValueError("The parties share no sample ids: nothing to train on. Check that they use the same ids.")
    common = sorted(common)
    for p in parties:
        pos = {i: r for r, i in enumerate(p.ids)}
        rows = torch.tensor([pos[i] for i in common], dtype=torch.long, device=p.features.device)
        p.aligned = p.features[send(rows, p.worker)]  # runs at the worker; the rows stay there
    return common


# -- the split network ---------------------------------------------------------------------------
class SplitModel(nn.Module):
    """The same network in one place (the centralized baseline of a :class:`SplitNN`).

    ``forward(x)`` cuts ``x`` with ``split`` (default :func:`split_rows`), runs each part
    through its bottom model, concatenates the activations and runs the top model.
    """

    def __init__(self, bottoms: Sequence[nn.Module], top: nn.Module, split=None) -> None:
        super().__init__()
        self.bottoms = nn.ModuleList(bottoms)
        self.top = top
        self.split = split or (lambda x: split_rows(x, len(self.bottoms)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.top(torch.cat([b(p) for b, p in zip(self.bottoms, self.split(x))], dim=1))


def batch_order(n: int, batch_size: int, *, seed: int, epoch: int) -> list[torch.Tensor]:
    """The batches of one epoch (shared by :class:`SplitNN` and :func:`train_split_model`)."""
    gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
    order = torch.randperm(n, generator=gen)
    return [order[b:b + batch_size] for b in range(0, n, batch_size)]


def _set_mode(model: nn.Module, training: bool) -> None:
    """Runs at the worker: train/eval mode of the real bottom model (dropout, batch norm)."""
    model.train(training)


def _optimizer(params, lr: float, momentum: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum)


class SplitNN:
    """A split network: bottom models at the feature holders' workers, top at the label holder.

    Parameters
    ----------
    bottoms: one bottom model per feature holder (sent to its worker).
    top: the top model (stays with the label holder, the party running this code);
        its input is the concatenation of the bottoms' outputs; it returns log-probabilities.
    parties: the :class:`FeatureHolder` s, already aligned (see :func:`align`).
    lr, momentum: SGD settings for every part (each party steps its own optimizer).

    ``train_epoch`` and ``evaluate`` return the bytes that travelled: activations (from the
    feature holders) and gradients plus batch indices (to them), from the workers' counters.
    """

    def __init__(self, bottoms: Sequence[nn.Module], top: nn.Module, parties: Sequence[FeatureHolder], *,
                 lr: float = 0.1, momentum: float = 0.0) -> None:
        if len(bottoms) != len(parties):
            raise ValueError(f"{len(bottoms)} bottom models for {len(parties)} feature holders; give one each.")
        if any(p.aligned is None for p in parties):
            raise ValueError("The parties are not aligned yet: call fedsyft.fl.vertical.align(parties, label_ids).")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}.")
        self.parties = list(parties)
        self.top = top
        self.top_opt = _optimizer(top.parameters(), lr, momentum)
        # Optimizers are created before the models are sent: they keep stepping the same
        # parameter objects, now at the workers.
        self.bottom_opts = [_optimizer(b.parameters(), lr, momentum) for b in bottoms]
        self.bottoms = [send_module(b, p.worker) for b, p in zip(bottoms, parties)]
        self.epochs = 0

    def __len__(self) -> int:
        return len(self.parties[0].aligned)

    def _mode(self, training: bool) -> None:
        self.top.train(training)
        for b, p in zip(self.bottoms, self.parties):
            p.worker.execute(_set_mode, b, training)

    def _traffic(self) -> tuple[int, int]:
        return (sum(p.worker.traffic.bytes_out for p in self.parties),
                sum(p.worker.traffic.bytes_in for p in self.parties))

    def _forward(self, idx: torch.Tensor, *, train: bool):
        acts, remote = [], []
        for b, p in zip(self.bottoms, self.parties):
            h_ptr = b(p.aligned[send(idx, p.worker)])      # at the feature holder
            h = h_ptr.detach().get()                       # the cut-layer activations travel
            acts.append(h.requires_grad_(train))
            remote.append(h_ptr)
        return self.top(torch.cat(acts, dim=1)), acts, remote

    def train_epoch(self, targets: torch.Tensor, *, batch_size: int = 64, seed: int = 0,
                    max_steps: int | None = None) -> dict[str, Any]:
        """One epoch over the aligned samples; ``targets`` are the label holder's, aligned."""
        if len(targets) != len(self):
            raise ValueError(f"targets has {len(targets)} labels but {len(self)} samples are aligned; "
                             f"give the labels of the common ids, in align()'s order.")
        self.epochs += 1
        out0, in0 = self._traffic()
        self._mode(True)
        loss_sum, seen, steps = 0.0, 0, 0
        for idx in batch_order(len(self), batch_size, seed=seed, epoch=self.epochs):
            if max_steps is not None and steps >= max_steps:
                break
            self.top_opt.zero_grad(set_to_none=True)
            for o in self.bottom_opts:
                o.zero_grad(set_to_none=True)
            out, acts, remote = self._forward(idx, train=True)
            loss = F.nll_loss(out, targets[idx])
            loss.backward()                                # down to the cut layer
            for h, h_ptr, p in zip(acts, remote, self.parties):
                h_ptr.backward(send(h.grad, p.worker))     # the gradients travel; backprop at the worker
            self.top_opt.step()
            for o in self.bottom_opts:
                o.step()                                   # each holder steps its own bottom model
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
            steps += 1
        out1, in1 = self._traffic()
        return {"loss": loss_sum / max(seen, 1), "steps": steps, "samples": seen,
                "bytes_activations": out1 - out0, "bytes_to_holders": in1 - in0}

    @torch.no_grad()
    def evaluate(self, targets: torch.Tensor, *, batch_size: int = 1000) -> tuple[float, float]:
        """Accuracy and loss over the aligned samples (e.g. the parties' aligned test rows)."""
        self._mode(False)
        correct, loss_sum = 0, 0.0
        for s in range(0, len(self), batch_size):
            idx = torch.arange(s, min(s + batch_size, len(self)))
            out, _, _ = self._forward(idx, train=False)
            loss_sum += F.nll_loss(out, targets[idx], reduction="sum").item()
            correct += (out.argmax(1) == targets[idx]).sum().item()
        return correct / len(self), loss_sum / len(self)

    def realign(self, parties: Sequence[FeatureHolder]) -> SplitNN:
        """Use other aligned rows at the same workers (e.g. the test set) with the same models."""
        if [p.worker for p in parties] != [p.worker for p in self.parties]:
            raise ValueError("realign() needs feature holders at the same workers, in the same order.")
        self.parties = list(parties)
        return self

    def get(self) -> SplitModel:
        """Bring the bottom models back and return the whole network as one :class:`SplitModel`."""
        return SplitModel([get_module(b) for b in self.bottoms], self.top)


def train_split_model(model: SplitModel, data: torch.Tensor, targets: torch.Tensor, *, epochs: int = 1,
                      batch_size: int = 64, lr: float = 0.1, momentum: float = 0.0, seed: int = 0,
                      max_steps: int | None = None, first_epoch: int = 1,
                      optimizer: torch.optim.Optimizer | None = None) -> list[float]:
    """Train the whole network centrally, with the batches :class:`SplitNN` uses; returns
    the mean loss of each epoch. The baseline a split run is compared with.

    To train epoch by epoch (e.g. to evaluate in between), pass ``first_epoch`` (the
    :class:`SplitNN` counts its epochs from 1) and keep one ``optimizer`` across the calls
    (it carries the momentum)."""
    opt = optimizer or _optimizer(model.parameters(), lr, momentum)
    model.train()
    losses = []
    for e in range(first_epoch, first_epoch + epochs):
        loss_sum, seen, steps = 0.0, 0, 0
        for idx in batch_order(len(targets), batch_size, seed=seed, epoch=e):
            if max_steps is not None and steps >= max_steps:
                break
            opt.zero_grad(set_to_none=True)
            loss = F.nll_loss(model(data[idx]), targets[idx])
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
            steps += 1
        losses.append(loss_sum / max(seen, 1))
    return losses


def sgd(model: nn.Module, *, lr: float, momentum: float = 0.0) -> torch.optim.Optimizer:
    """The optimizer :func:`train_split_model` uses (to keep across epoch-by-epoch calls)."""
    return _optimizer(model.parameters(), lr, momentum)


__all__ = ["split_rows", "PSIParty", "psi_sketch", "FeatureHolder", "align", "SplitModel", "SplitNN",
           "batch_order", "train_split_model", "sgd"]
