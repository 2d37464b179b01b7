"""Overhead of the virtual-worker loop against plain PyTorch, measured side by side.

One epoch of MNIST with the classic PySyft CNN (conv 20, conv 50, fc 500), batch 64:
(a) the seed article's loop through FederatedDataLoader with model.send / model.get and
loss.get() every batch, and (b) the plain PyTorch loop over the *same batches*. The two are
timed in interleaved blocks so that machine noise hits both alike. The classic syft
notebook reported 1.9x; fedsyft's target is at most 1.10x.

    python benchmarks/overhead.py            # one full epoch (about 80 s on 2 cores)
    python benchmarks/overhead.py --batches 200
"""

from __future__ import annotations

import argparse
import copy
import datetime
import platform
import statistics
import time

import torch
import torch.nn.functional as F

import fedsyft as sy
from fedsyft.data import MNIST
from fedsyft.models import ClassicCNN


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=None, help="limit the epoch to this many batches")
    ap.add_argument("--block", type=int, default=25, help="batches per timed block")
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()

    hook = sy.TorchHook(torch)
    bob, alice = sy.VirtualWorker(hook, id="bob"), sy.VirtualWorker(hook, id="alice")
    train = MNIST("train")
    loader = sy.FederatedDataLoader(train.federate((bob, alice)), batch_size=args.batch_size, shuffle=True, seed=0)
    # The same batches for the plain loop: global indices, in the loader's order.
    order = loader.next_epoch_indices()
    n = len(order) if args.batches is None else min(args.batches, len(order))

    torch.manual_seed(0)
    fed_model = ClassicCNN()
    plain_model = copy.deepcopy(fed_model)
    fed_opt = torch.optim.SGD(fed_model.parameters(), lr=0.01)
    plain_opt = torch.optim.SGD(plain_model.parameters(), lr=0.01)
    X, Y = train.data, train.targets

    fed_batches = iter(loader)

    def fed_block(k: int) -> float:
        t0 = time.perf_counter()
        for _ in range(k):
            data, target = next(fed_batches)
            fed_model.send(data.location)
            fed_opt.zero_grad()
            loss = F.nll_loss(fed_model(data), target)
            loss.backward()
            fed_opt.step()
            fed_model.get()
            loss.get()
        return time.perf_counter() - t0

    def plain_block(start: int, k: int) -> float:
        t0 = time.perf_counter()
        for i in range(start, start + k):
            idx = order[i]
            plain_opt.zero_grad()
            loss = F.nll_loss(plain_model(X[idx]), Y[idx])
            loss.backward()
            plain_opt.step()
            loss.item()
        return time.perf_counter() - t0

    t_fed = t_plain = 0.0
    block_ratios = []
    done, block = 0, 0
    while done < n:
        k = min(args.block, n - done)
        if block % 2 == 0:  # alternate which loop goes first, so neither gets a systematic edge
            f = fed_block(k)
            p = plain_block(done, k)
        else:
            p = plain_block(done, k)
            f = fed_block(k)
        t_fed, t_plain = t_fed + f, t_plain + p
        block_ratios.append(f / p)
        done, block = done + k, block + 1
    same = all(torch.allclose(a, b, atol=1e-5) for a, b in zip(fed_model.parameters(), plain_model.parameters()))
    ratio = t_fed / t_plain
    print(f"# fedsyft overhead benchmark, {datetime.date.today()}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} torch threads, torch {torch.__version__}")
    print(f"batches: {n} of {len(order)} (batch {args.batch_size}), classic CNN")
    print(f"federated loop (send/get per batch): {t_fed:.2f} s")
    print(f"plain PyTorch loop, same batches:    {t_plain:.2f} s")
    print(f"ratio: {ratio:.3f}x (target <= 1.10x; classic syft reported 1.9x)")
    print(f"median of {len(block_ratios)} per-block ratios: {statistics.median(block_ratios):.3f}x")
    print(f"same final weights in both loops: {same}")
    print(sy.traffic_report([bob, alice]))
    hook.unhook()
    return 0 if ratio <= 1.10 and same else 1


if __name__ == "__main__":
    raise SystemExit(main())
