#!/usr/bin/env bash
# The GPU check of issue 7, for a session that is lent a GPU; one short run (at most ~7 minutes):
#   1. the CUDA tests: CUDA-graph iteration vs eager, capture fallback, resume, batched seeds on CUDA,
#      classifier and image GAN with bf16 autocast + channels_last (tests/test_cuda.py);
#   2. the issue's H100 targets for real: the Figure 5 run (20,000 iterations, one seed, metrics at
#      the preset's cadence) and 16 seeds of it batched in one process;
#   3. the benchmark on the GPU: prints the table and writes BENCHMARKS.md's CUDA section.
# Usage: bash scripts/device_check.sh   (with the device tool, $OUT is set: the log and BENCHMARKS.md
# come back there; copy the CUDA section into the repo's BENCHMARKS.md with the card's name).
# Missing Python packages (torch-fidelity on a bare CUDA image) are installed from .whl/ if present:
#   echo /.whl/ >> .git/info/exclude; python3 -m pip download --no-deps --only-binary=:all: \
#     --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 -d .whl torch-fidelity==0.4.0
# then carry `.whl` with the device tool (only tests/test_cuda.py's image-GAN test needs it).
# STAGES="tests fig5 batched bench" (the default) picks stages, e.g. STAGES="bench fig5" on a re-run.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/mixgan_device_check}"
mkdir -p "$OUT"
exec > >(tee "$OUT/device_check.log") 2>&1
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD:$PYTHONPATH" PYTHONUNBUFFERED=1
PY=python3
RUNS=/tmp/mixgan_device_runs
STAGES="${STAGES:-tests fig5 batched bench}"
want() { [[ " $STAGES " == *" $1 "* ]]; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
$PY -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; \
print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name())" || exit 1

want tests && echo "== 1. CUDA tests" && timeout 120 $PY -m pytest -q -p no:cacheprovider -rs --durations=5 tests/test_fast_step.py \
    tests/test_stacks.py tests/test_cuda.py -k "cuda or alone"

last() {  # the run's status and wall time, from its summary (also after a timeout: from metrics)
    $PY - "$1" <<'EOF'
import json, sys
from pathlib import Path
d = Path(sys.argv[1])
for s in sorted(d.rglob("summary.json")):
    j = json.loads(s.read_text())
    f = j.get("final", {})
    print(s.parent.name, j.get("status"), "step", j.get("step"), "wall_s", j.get("wall_time_s", j.get("wall")),
          "modes", f.get("quality/modes"), "hq", f.get("quality/high_quality"))
for m in sorted(d.rglob("metrics.jsonl")):
    rows = m.read_text().splitlines()
    if rows:
        print(m.parent.name, "last row step", json.loads(rows[-1]).get("step"))
EOF
}

if want fig5; then
    echo "== 2a. Figure 5 setting, one seed, 20,000 iterations (target < 30 s on an H100)"
    start=$SECONDS
    timeout 50 $PY -m mixgan.train --config configs/gan/grid25_fig5.yaml --mixup \
        --device cuda --run.progress=false --run.dir $RUNS --run.name fig5-s0 | tail -4
    echo "wall (process, start-up included): $((SECONDS - start)) s"
    last $RUNS/fig5-s0
fi

if want batched; then
    echo "== 2b. 16 seeds batched, 20,000 iterations each (target < 2 min on an H100)"
    start=$SECONDS
    timeout 120 $PY -m mixgan.train --config configs/gan/grid25_fig5.yaml \
        --mixup --device cuda --run.progress=false --run.dir $RUNS --run.name fig5-batched \
        --metrics.image_every=0 --seeds 0-15 | tail -8
    echo "wall (process, start-up included): $((SECONDS - start)) s"
    last $RUNS/fig5-batched
fi

if want bench; then
    echo "== 3. benchmark (CUDA)"
    timeout 110 $PY -m mixgan.benchmarks.gan --device cuda --quick --out BENCHMARKS.md
    cp BENCHMARKS.md "$OUT/"
fi
echo "== done"
