"""Which samples every client trains on at every step: local_train's batch order, for K clients.

:func:`~fedsyft.fl.client.local_train` draws, in each epoch,
``torch.randperm(n, generator=torch.Generator().manual_seed(seed))`` (one generator for the
whole call) and cuts it into batches of ``batch_size``; the last batch of an epoch has
``n % batch_size`` samples when that is not zero; ``max_steps`` stops the client early.
:func:`client_batches` reproduces that order exactly, and :func:`build_schedule` lays the
batches of K clients side by side: step ``t`` of every client at column ``t``, padded with
``-1`` where a batch is short or a client has already finished.

Example
-------
>>> from fedsyft.fl.client import ClientConfig
>>> s = build_schedule([5, 3], [0, 5], ClientConfig(batch_size=2), seeds=[0, 1])
>>> s.sizes.tolist()
[[2, 2, 1], [2, 1, 0]]
>>> s.steps
[3, 2]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


def client_batches(n: int, config, seed: int) -> list[torch.Tensor]:
    """The index batches ``local_train(..., seed=seed)`` draws for a client with ``n`` samples."""
    out: list[torch.Tensor] = []
    if n == 0:
        return out
    gen = torch.Generator().manual_seed(int(seed))
    cap = config.max_steps
    for _ in range(config.epochs):
        if cap is not None and len(out) >= cap:
            break  # later epochs would only draw permutations that are never used
        order = torch.randperm(n, generator=gen)
        for b in range(0, n, config.batch_size):
            if cap is not None and len(out) >= cap:
                break
            out.append(order[b:b + config.batch_size])
    return out


@dataclass
class Schedule:
    """K clients' batches side by side.

    index: ``(K, T, B)`` rows of the data pool (client offset added), ``-1`` for padding.
    sizes: ``(K, T)`` the true batch size of client k at step t (0 once it has finished).
    steps: local steps per client (``local_train``'s ``"steps"``).
    groups: for every step, ``[(batch_size, rows)]``: the clients (row numbers) that take a
        step of that size; ``rows`` is ``None`` when it is all K clients.
    """

    index: torch.Tensor
    sizes: torch.Tensor
    steps: list[int]
    groups: list[list[tuple[int, torch.Tensor | None]]]

    @property
    def num_steps(self) -> int:
        return self.sizes.shape[1]


def build_schedule(sizes: Sequence[int], offsets: Sequence[int], config, seeds: Sequence[int]) -> Schedule:
    """The batch schedule of clients with ``sizes[k]`` samples starting at pool row ``offsets[k]``."""
    bsz = config.batch_size
    per_client = [client_batches(int(n), config, s) for n, s in zip(sizes, seeds)]
    steps = [len(b) for b in per_client]
    t_max = max(steps, default=0)
    k = len(per_client)
    index = torch.full((k, t_max, bsz), -1, dtype=torch.long)
    for row, (batches, off) in enumerate(zip(per_client, offsets)):
        if not batches:
            continue
        lens = torch.tensor([len(b) for b in batches])
        flat_start = torch.repeat_interleave(torch.cumsum(lens, 0) - lens, lens)  # batch start, flat
        slot = torch.repeat_interleave(torch.arange(len(batches)) * bsz, lens)  # batch start, padded
        pos = slot + torch.arange(int(lens.sum())) - flat_start
        index[row, :len(batches)].view(-1)[pos] = torch.cat(batches) + int(off)
    true_sizes = (index >= 0).sum(-1)
    groups: list[list[tuple[int, torch.Tensor | None]]] = []
    cols = true_sizes.t().numpy()
    for col in cols:
        first = int(col[0])
        if first and (col == first).all():  # the common case: every client, same size
            groups.append([(first, None)])
            continue
        step_groups = []
        for b in np.unique(col).tolist():
            if b == 0:
                continue
            rows = torch.from_numpy(np.flatnonzero(col == b))
            step_groups.append((int(b), None if len(rows) == k else rows))
        groups.append(step_groups)
    return Schedule(index, true_sizes, steps, groups)
