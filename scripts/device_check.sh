#!/usr/bin/env bash
# The GPU check of issue 7, for a session that is lent a GPU; one short run (at most 6 minutes):
#   1. the CUDA tests: CUDA-graph iteration vs eager, capture fallback, resume, batched seeds on CUDA;
#   2. the benchmark on the GPU: prints the table and writes BENCHMARKS.md's CUDA section;
#   3. the issue's H100 targets for real: the Figure 5 run (20,000 iterations, one seed, metrics at
#      the preset's cadence) and 16 seeds of it batched in one process (pictures only at the end).
# Usage: bash scripts/device_check.sh   (with the device tool, $OUT is set: BENCHMARKS.md comes back
# there with its CUDA section filled in; copy that section into the repo's BENCHMARKS.md, and the
# two wall times printed at the end into its GPU notes, with the card's name).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/mixgan_device_check}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; \
print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name())" || exit 1

echo "== 1. CUDA tests"
timeout 75 python -m pytest -q -p no:cacheprovider -rs tests/test_fast_step.py tests/test_batched.py \
    -k "cuda or equal_separate" 2>&1 | tail -20

echo "== 2. benchmark (CUDA)"
timeout 105 python -m mixgan.bench --device cuda --quick --out BENCHMARKS.md
cp BENCHMARKS.md "$OUT/"

echo "== 3a. Figure 5 setting, one seed, 20,000 iterations (target < 30 s on an H100)"
start=$SECONDS
timeout 45 python -m mixgan.train --config configs/gan/grid25_fig5.yaml --mixup \
    --device cuda --run.progress=false --run.dir /tmp/mixgan_device_runs --run.name fig5-s0 2>&1 | tail -4
echo "wall (process, start-up included): $((SECONDS - start)) s"

echo "== 3b. 16 seeds batched, 20,000 iterations each (target < 2 min on an H100)"
start=$SECONDS
timeout 135 python -m mixgan.train --config configs/gan/grid25_fig5.yaml \
    --mixup --device cuda --run.progress=false --run.dir /tmp/mixgan_device_runs --run.name fig5-batched \
    --metrics.image_every=0 --seeds 0-15 2>&1 | tail -22
echo "wall (process, start-up included): $((SECONDS - start)) s"
