"""What privacy costs per round: plaintext FedAvg vs secure aggregation vs CKKS.

For each model, 10 clients' updates (Gaussian, std 0.01, the size of a round's update) are
aggregated three ways, and the seconds and bytes of one round are printed side by side:

* plaintext: the weighted mean (bytes: 10 float32 updates uploaded);
* secure aggregation, shares held by the 10 clients themselves, and by 3 aggregation
  workers (bytes: the shares and the holders' sums, as counted by the workers);
* CKKS (TenSEAL, N = 8192, [60, 40, 40, 60], scale 2**40): client encryption, server
  addition, key-holder decryption (bytes: the clients' serialized ciphertexts).

Max errors against the float64 weighted mean are reported. Not run in CI.

Usage::

    python benchmarks/privacy_costs.py [--models simple_cnn mcmahan_2nn] [--clients 10] [--repeat 1]
"""

from __future__ import annotations

import argparse
import time

import torch

from fedsyft.fl import weighted_mean
from fedsyft.models import count_parameters, get_model
from fedsyft.privacy import CKKSAggregator, SecureAggregator
from fedsyft.workers import VirtualWorker, human_bytes


def fake_updates(model_name: str, k: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    model = get_model(model_name)
    g = torch.Generator().manual_seed(seed)
    return [{n: torch.randn(p.shape, generator=g) * 0.01 for n, p in model.state_dict().items()
             if torch.is_floating_point(p)} for _ in range(k)]


def run(model_name: str, k: int, repeat: int) -> list[tuple]:
    updates = fake_updates(model_name, k)
    weights = [1.0 / k] * k
    numel = sum(v.numel() for v in updates[0].values())
    plain_bytes = k * numel * 4
    rows = []
    t = time.perf_counter()
    for _ in range(repeat):
        weighted_mean(updates, weights)
    rows.append(("plaintext FedAvg", (time.perf_counter() - t) / repeat, plain_bytes, 0.0))

    clients = [VirtualWorker(id=f"bench_{model_name}_c{i}") for i in range(k)]
    servers = [VirtualWorker(id=f"bench_{model_name}_s{i}") for i in range(3)]
    for label, holders in ((f"secure agg ({k} client holders)", None),
                           ("secure agg (3 aggregation workers)", servers)):
        agg = SecureAggregator(holders, report_error=True)
        secs = []
        for r in range(repeat):
            agg(updates, weights, round=r + 1, clients=[c.id for c in clients])
            secs.append(agg.last_round_info["secure_seconds"])
        info = agg.last_round_info
        rows.append((label, sum(secs) / repeat, info["secure_bytes"], info["max_abs_error"]))

    ckks = CKKSAggregator()
    secs = []
    for r in range(repeat):
        ckks(updates, weights, round=r + 1)
        secs.append(ckks.last_round_info["ckks_seconds"])
    info = ckks.last_round_info
    rows.append(("CKKS (TenSEAL)", sum(secs) / repeat, info["ckks_bytes_up"] + info["ckks_bytes_down"],
                 info["max_abs_error"]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["simple_cnn", "mcmahan_2nn"])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.clients} clients, one round, mean of {args.repeat} run(s), torch threads {args.threads}\n")
    head = f"{'model':<13} {'params':>8}  {'method':<36} {'s/round':>9} {'bytes/round':>12} {'x plain':>8} {'max error':>10}"
    print(head)
    print("-" * len(head))
    for name in args.models:
        params = count_parameters(get_model(name))
        rows = run(name, args.clients, args.repeat)
        plain = rows[0][2]
        for label, secs, nbytes, err in rows:
            print(f"{name:<13} {params:>8,}  {label:<36} {secs:>9.3f} {human_bytes(nbytes):>12} "
                  f"{nbytes / plain:>8.1f} {err:>10.1e}")
        print()


if __name__ == "__main__":
    main()
