#!/usr/bin/env bash
# Every GPU figure the issues ask for, as one command on a CUDA machine (the machine's own python,
# no pip needed: torch, numpy, matplotlib and pytest are enough):
#
#   PYTHONPATH=. bash benchmarks/gpu_checks.sh          # tests + demo + one NIID-Bench cell + CIFAR round (~10 min)
#   PYTHONPATH=. bash benchmarks/gpu_checks.sh full     # + the 15 full NIID-Bench cells x 3 seeds and McMahan's rounds
#
# Targets: the CUDA tests pass; the demo reaches >= 95% on cuda (its seconds per round sit next to
# the CPU's); one full NIID-Bench MNIST cell takes <= 40 s batched (plain loop: 14.4 min on an
# H100); a full-size round of the privacy-series-part1 preset <= 60 s (150 rounds <= 2.5 h);
# full mode: each NIID-Bench cell within 1 point of the published value, McMahan's CNN reaching
# 99% in about 20 rounds (IID) and 229 (pathological non-IID). JSON lands in benchmarks/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=${PYTHONPATH:-.} FLWR_TELEMETRY_ENABLED=0 PYTHONUNBUFFERED=1
PY=${PY:-python3}
step() { echo; echo "=== $1 ($(date +%T))"; }

$PY -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU here'; print(torch.cuda.get_device_name(0), torch.__version__)"
step "CUDA tests: trainer, privacy aggregators and the batched engine on the GPU"
$PY -m pytest -o addopts="" -q tests/fl/test_device.py tests/fl/test_batched.py tests/fl/test_batched_backend.py
step "the demo on cuda next to cpu (issue 10)"
$PY benchmarks/demo_time.py --device cuda cpu
step "one full NIID-Bench MNIST cell, workers vs batched (issue 13)"
$PY benchmarks/batched_speed.py --device cuda --full
step "one full-size round of the privacy-series-part1 preset (issue 15)"
$PY benchmarks/cifar_round.py --device cuda
if [ "${1:-}" = full ]; then
  step "NIID-Bench MNIST, full setup, 15 cells x 3 seeds (issue 13.5)"
  $PY benchmarks/niid_bench.py --mode full --device cuda --backend batched --seeds 0 1 2
  step "McMahan et al. 2017, CNN, rounds to 99% (issue 13.5)"
  $PY benchmarks/mcmahan.py --mode full --device cuda --backend batched
fi
