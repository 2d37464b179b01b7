"""Wall time of one full-size round of the privacy-series-part1 preset, and of its 150 rounds.

The preset reproduces "Preserving Data Privacy in Deep Learning | Part 1" (Towards Data Science,
https://towardsdatascience.com/preserving-data-privacy-in-deep-learning-part-1-a04894f78029/) on
CIFAR-10: 20 clients (IID, 2,500 images each), 6 selected per round, VGG19 with batch norm,
E=5 local epochs, B=32, lr 0.1, 150 rounds. The data here are *random* CIFAR-shaped tensors
(50,000 x 3 x 32 x 32, labels 0-9): the time of a round does not depend on the pixel values,
and the real archive cannot be fetched on every machine.

One round = 6 clients x 5 epochs x ceil(2500 / 32) = 79 steps = 2,370 SGD steps of VGG19-BN
at batch 32, the model sent to and fetched from 6 workers, FedAvg, and evaluation on 10,000
test images.

    python benchmarks/cifar_round.py --device cuda     # the GPU figure: one full round, timed
    python benchmarks/cifar_round.py                   # CPU: a reduced measurement, extrapolated

On the GPU the script runs a short warm-up round (cuDNN picks its algorithms), then one full
round, and prints its seconds and 150 x that. On the CPU (or with ``--reduced``) a full round
would take about an hour, so it times two short rounds capped at K and 2K local steps per
client, takes the per-step time from their difference and the fixed cost (model transfer,
aggregation) from the first, times the evaluation on 1,000 test images, and extrapolates to
2,370 steps and 10,000 test images. The extrapolation is printed as such.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch.utils.data import TensorDataset

import fedsyft as sy
from fedsyft.data import federate
from fedsyft.device import resolve_device
from fedsyft.fl import ClientConfig, FederatedTrainer, FLConfig
from fedsyft.fl.evaluate import evaluate
from fedsyft.models import get_model
from fedsyft.partition import IID

try:
    from _common import machine_label
except ImportError:  # run from elsewhere
    from benchmarks._common import machine_label

PRESET = {"clients": 20, "selected": 6, "epochs": 5, "batch_size": 32, "lr": 0.1, "rounds": 150,
          "train": 50_000, "test": 10_000}


def random_cifar(n: int, *, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Random CIFAR-shaped images (uint8 pixels scaled to [0, 1], then standardised) and labels."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8).float().div_(255.0)
    x.sub_(0.5).div_(0.25)
    y = torch.randint(0, 10, (n,), generator=g)
    return x.to(device), y.to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    ap.add_argument("--reduced", action="store_true", help="reduced measurement + extrapolation "
                                                           "(the default on the CPU)")
    ap.add_argument("--steps", type=int, default=2, help="K, local steps per client in the reduced mode")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    reduced = args.reduced or device.type == "cpu"
    p = PRESET
    print(machine_label())
    print(f"device {device}; privacy-series-part1: {p['clients']} clients x {p['train'] // p['clients']} "
          f"random CIFAR-shaped images, {p['selected']} selected, VGG19-BN, E={p['epochs']}, "
          f"B={p['batch_size']}, lr {p['lr']}")

    t0 = time.perf_counter()
    x, y = random_cifar(p["train"], seed=0, device=device)
    tx, ty = random_cifar(p["test"] if not reduced else 1_000, seed=1, device=device)
    workers = [sy.VirtualWorker(id=f"cifar_client{i}") for i in range(p["clients"])]
    fds = federate(TensorDataset(x, y), workers, partition=IID(seed=0))
    del x, y
    torch.manual_seed(0)
    model = get_model("vgg19", in_channels=3, image_size=32).to(device)
    print(f"data and model ready in {time.perf_counter() - t0:.1f} s")
    per_client = math.ceil(p["train"] // p["clients"] / p["batch_size"]) * p["epochs"]
    full_steps = p["selected"] * per_client

    def trainer(max_steps: int | None) -> FederatedTrainer:
        cfg = FLConfig(rounds=10**6, num_selected=p["selected"], seed=0,
                       client=ClientConfig(epochs=p["epochs"], batch_size=p["batch_size"], lr=p["lr"],
                                           max_steps=max_steps))
        return FederatedTrainer(model, fds, (tx, ty), cfg, progress=False)

    def timed_round(max_steps: int | None) -> float:
        tr = trainer(max_steps)
        _sync(device)
        s = time.perf_counter()
        tr.run_round()
        _sync(device)
        return time.perf_counter() - s

    timed_round(1)  # warm-up: allocator, cuDNN algorithm choice, first-call costs
    if not reduced:
        sec = timed_round(None)
        print(f"\nONE FULL ROUND (measured): {sec:.1f} s for {full_steps:,} local steps + transfers + "
              f"FedAvg + evaluation on {len(ty):,} images")
        print(f"projected wall time of {p['rounds']} rounds: {p['rounds'] * sec / 3600:.2f} h "
              f"({p['rounds']} x {sec:.1f} s)")
        return 0

    k1, k2 = args.steps, 2 * args.steps
    t1, t2 = timed_round(k1), timed_round(k2)
    _sync(device)
    s = time.perf_counter()
    evaluate(model, tx, ty)
    _sync(device)
    eval_1k = time.perf_counter() - s
    step = max(t2 - t1, 1e-9) / (p["selected"] * (k2 - k1))
    fixed_raw = t1 - p["selected"] * k1 * step - eval_1k
    fixed = max(fixed_raw, 0.0)
    eval_full = eval_1k * p["test"] / len(ty)
    sec = fixed + full_steps * step + eval_full
    print(f"\nREDUCED MEASUREMENT on {device} (extrapolated, not a measured full round):")
    print(f"  round capped at {k1} steps/client: {t1:.2f} s; at {k2} steps/client: {t2:.2f} s")
    print(f"  -> {step:.3f} s per local step (B={p['batch_size']}), fixed cost {fixed:.2f} s per round, "
          f"evaluation {eval_1k:.2f} s per 1,000 test images")
    if fixed_raw < 0:
        print(f"  (the fixed cost came out negative, {fixed_raw:.1f} s: timing noise on a busy machine; "
              f"taken as 0. Rerun on an idle machine, or with a larger --steps.)")
    print(f"  EXTRAPOLATED full round: {full_steps:,} steps x {step:.3f} s + {fixed:.2f} s + {eval_full:.1f} s "
          f"= {sec:.0f} s ({sec / 60:.1f} min)")
    print(f"  EXTRAPOLATED {p['rounds']} rounds: {p['rounds'] * sec / 3600:.1f} h")
    print("  The GPU figure is taken with: python benchmarks/cifar_round.py --device cuda")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
