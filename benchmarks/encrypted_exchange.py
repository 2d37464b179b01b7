"""Cost of the encrypted exchange against the plaintext exchange, measured side by side.

The same federated run (MNIST, IID clients, the classic CNN) twice: plaintext
:class:`~fedsyft.fl.FederatedTrainer` and :class:`~fedsyft.privacy.encrypted.EncryptedFederatedTrainer`.
Rounds are interleaved (plain, encrypted, plain, ...) so machine noise hits both alike. Prints
bytes per round (counted by the workers' traffic counters), seconds per round, the ratios,
the time spent in serialization + AES-GCM, the one-off PBKDF2 enrollment at 600,000
iterations, and seal/open times of a VGG19-BN state (the CIFAR-10 preset's model). It also
checks that the two runs end bit-identical.

    python benchmarks/encrypted_exchange.py                 # about a minute on 2 cores
    python benchmarks/encrypted_exchange.py --rounds 5 --clients 10
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import fedsyft as sy
from fedsyft.data import MNIST
from fedsyft.fl import ClientConfig, FederatedTrainer, FLConfig
from fedsyft.models import get_model
from fedsyft.partition import IID
from fedsyft.privacy.encrypted import (
    DEFAULT_ITERATIONS,
    EncryptedExchange,
    EncryptedFederatedTrainer,
    Endpoint,
    derive_key,
    states_equal,
)

try:
    from _common import machine_label
except ImportError:  # run from elsewhere
    from benchmarks._common import machine_label


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--clients", type=int, default=5)
    ap.add_argument("--samples", type=int, default=3000, help="training samples in all")
    ap.add_argument("--model", default="classic_cnn")
    ap.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS, help="PBKDF2 iterations")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine_label())

    rng = np.random.default_rng(0)
    train, test = MNIST("train"), MNIST("test")
    train = train.subset(np.sort(rng.permutation(len(train))[:args.samples]))
    test = test.subset(np.arange(1000))
    cfg = FLConfig(rounds=args.rounds, client=ClientConfig(epochs=1, batch_size=32, lr=0.05), seed=0)

    def build(tag: str):
        ws = [sy.VirtualWorker(id=f"{tag}{i}") for i in range(args.clients)]
        fds = train.federate(ws, partition=IID(seed=0))
        torch.manual_seed(0)
        return get_model(args.model), fds

    m_plain, fds_plain = build("plain_")
    plain = FederatedTrainer(m_plain, fds_plain, test, cfg, progress=False)
    m_enc, fds_enc = build("enc_")
    ex = EncryptedExchange("benchmark password", iterations=args.iterations)
    t0 = time.perf_counter()
    ex.enroll([s.worker for s in fds_enc])
    enroll_s = time.perf_counter() - t0
    enc = EncryptedFederatedTrainer(m_enc, fds_enc, test, cfg, exchange=ex, progress=False)

    rows = []
    for _ in range(args.rounds):
        p = plain.run_round()
        e = enc.run_round()
        rows.append((p, e))
    same = states_equal(m_plain.state_dict(), m_enc.state_dict())

    def med(f):
        return statistics.median(f(r) for r in rows)

    pb_down, eb_down = med(lambda r: r[0].bytes_down), med(lambda r: r[1].bytes_down)
    pb_up, eb_up = med(lambda r: r[0].bytes_up), med(lambda r: r[1].bytes_up)
    ps, es = med(lambda r: r[0].seconds), med(lambda r: r[1].seconds)
    crypto = med(lambda r: r[1].extra["crypto_seconds"])
    print(f"\n{args.model}, {args.clients} clients x {args.samples // args.clients} samples, E=1, B=32, "
          f"{args.rounds} rounds (medians per round)")
    print(f"{'':22}{'plaintext':>14}{'encrypted':>14}{'ratio':>9}")
    print(f"{'bytes down':22}{pb_down:>14,.0f}{eb_down:>14,.0f}{eb_down / pb_down:>9.4f}")
    print(f"{'bytes up':22}{pb_up:>14,.0f}{eb_up:>14,.0f}{eb_up / pb_up:>9.4f}")
    print(f"{'seconds':22}{ps:>14.3f}{es:>14.3f}{es / ps:>9.3f}")
    print(f"serialization + AES-GCM at the server: {crypto:.4f} s per round ({100 * crypto / es:.1f}% of it)")
    print(f"test accuracy after {args.rounds} rounds: plaintext {plain.history.final_accuracy:.4f}, "
          f"encrypted {enc.history.final_accuracy:.4f}; bit-identical weights: {same}")
    print(f"PBKDF2-HMAC-SHA256 enrollment, {args.iterations:,} iterations, {args.clients} clients "
          f"(server + worker derive each key): {enroll_s:.2f} s once")

    # The CIFAR-10 preset's model: what one message costs at that size.
    vgg = get_model("vgg19", in_channels=3, image_size=32).state_dict()
    key = derive_key("pw", b"0123456789abcdef", iterations=1_000)
    a, b = Endpoint("server", "bob", key), Endpoint("bob", "server", key)
    t0 = time.perf_counter()
    msg = a.seal({"state": vgg}, kind="model", round=1)
    t1 = time.perf_counter()
    b.open(msg, kind="model", round=1)
    t2 = time.perf_counter()
    raw = sum(v.numel() * v.element_size() for v in vgg.values())
    print(f"VGG19-BN state {raw / 2**20:.1f} MiB -> ciphertext {msg.numel() / 2**20:.1f} MiB "
          f"(+{msg.numel() - raw:,} B); seal {t1 - t0:.3f} s, open {t2 - t1:.3f} s")
    if not same:
        print("ERROR: encrypted and plaintext runs differ")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
