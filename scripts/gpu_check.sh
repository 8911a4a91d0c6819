#!/usr/bin/env bash
# The GPU checks of issues 13 and 14 in one call (device machine, repository root, after scripts/gpu_pack.sh here):
#   run(command="bash scripts/gpu_check.sh", carry=[".gpu"], timeout_s=540)
# Figures go to $OUT (JSON and logs); each step has its own timeout so one slow step cannot eat the call.
# DEVICE=cpu runs the same steps on a CPU (a dry run of the script itself, with smaller steps).
set -uo pipefail
OUT=${OUT:-/tmp/gpu_check_out}; DEVICE=${DEVICE:-cuda}; mkdir -p "$OUT"
PY=${PY:-python3}
export PYTHONUNBUFFERED=1
if [ -d .gpu/wheels ] && ls .gpu/wheels/*.whl >/dev/null 2>&1 && [ "$DEVICE" = cuda ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/wheels/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
examples=4096; [ "$DEVICE" = cpu ] && examples=64
step() {  # step NAME SECONDS COMMAND...: run with a timeout, log to $OUT/NAME.log, report its status
  local name=$1 seconds=$2; shift 2
  local t0=$SECONDS
  timeout "$seconds" "$@" > "$OUT/$name.log" 2>&1
  echo "$name: rc $? in $((SECONDS - t0)) s" | tee -a "$OUT/steps.txt"
}
{ nvidia-smi 2>/dev/null || echo "no nvidia-smi"; $PY -c "import torch; print(torch.__version__, torch.cuda.is_available())"; } > "$OUT/machine.txt" 2>&1
# issue 14: the trainer end to end against the model's step alone, paper size, 50 px tiles (target: ratio >= 0.8)
step throughput_fp16 200 $PY -m geoapp bench yield-throughput --size paper --device "$DEVICE" --dataset .gpu/ds --examples $examples --json
step throughput_bf16 150 $PY -m geoapp bench yield-throughput --size paper --device "$DEVICE" --dataset .gpu/ds --examples $examples --precision bfloat16 --json
# issue 13: the paper-size configuration trains and scores on a GPU (one short epoch on a subsample)
step train_paper 150 $PY -m geoapp train yield --model semi-ha --size paper --dataset .gpu/ds --test-year 2018 --n-train-years 4 \
  --epochs 1 --max-train-examples $examples --device "$DEVICE" --out /tmp/gpu_check_run --force --quiet
# the tests that need CUDA (skipped on CI)
step cuda_tests 120 $PY -m pytest -q -p no:cacheprovider tests/training/test_device.py tests/models/location/test_spherical_harmonics.py
cp /tmp/gpu_check_run/metrics.jsonl "$OUT/train_paper_metrics.jsonl" 2>/dev/null || true
cat "$OUT/steps.txt"
