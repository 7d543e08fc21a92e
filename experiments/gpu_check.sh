#!/usr/bin/env bash
# The GPU measurements of the throughput issue in one run (a few minutes on one GPU):
#   1. mbv2-imagenet sandwich step at 224 px, AMP bf16, channels_last, against the same subnets as static
#      timm models (experiments/bench_sandwich_step.py);
#   2. one epoch of Fashion-MNIST training on the GPU (`supernet train`), images/s and accuracy;
#   3. a torch-cuda latency table for mbv2-small, built and validated on 50 unseen subnets.
# Results go to $RESULTS (default experiments/results/gpu/); run directories to $WORK (default a temp dir).
#
#   bash experiments/gpu_check.sh                 # on the GPU machine
#   bash experiments/gpu_check.sh --device cpu    # CPU smoke setting: tiny sizes, proves the script runs
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=cuda
[ "${1:-}" = "--device" ] && DEVICE="${2:?--device needs cuda or cpu}"
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
SUPERNET=("$PY" -m supernet_cli)
RESULTS=${RESULTS:-experiments/results/gpu}
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$RESULTS" "$WORK"
log() { echo "[gpu_check $(date -u +%H:%M:%S)] $*"; }

if [ "$DEVICE" = cuda ]; then
  SPACE=mbv2-imagenet; BATCH=64; ROUNDS=5; IN_CHANS=3
  DATA=(--dataset fashion-mnist); TABLE_SPACE=mbv2-small; TARGET=torch-cuda; SAMPLES=50; REPEATS=50
  "$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name())" \
    | tee "$RESULTS/device.txt"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> "$RESULTS/device.txt" || true
else  # smoke: the same three steps at toy sizes on the CPU
  SPACE=tests/spaces/tiny.yaml; BATCH=8; ROUNDS=1; IN_CHANS=1
  DATA=(--dataset digits --space tests/spaces/tiny.yaml --batch-size 16 --calib-images 32)
  TABLE_SPACE=tests/spaces/tiny.yaml; TARGET=torch-cpu; SAMPLES=3; REPEATS=3
  echo "cpu smoke run" > "$RESULTS/device.txt"
fi

log "1/3 sandwich step vs static timm twins ($SPACE, batch $BATCH, bf16, channels_last)"
"$PY" experiments/bench_sandwich_step.py --space "$SPACE" --device "$DEVICE" --amp bf16 --channels-last \
  --batch-size "$BATCH" --in-chans "$IN_CHANS" --rounds "$ROUNDS" --threads 1 | tee "$RESULTS/sandwich_step.txt"

log "2/3 one epoch of training on $DEVICE"
"${SUPERNET[@]}" train "${DATA[@]}" --epochs 1 --device "$DEVICE" --amp bf16 --nproc-per-node 1 \
  -q --out "$WORK/train" | tee "$RESULTS/train_1epoch.txt"
cp "$WORK/train/metrics.jsonl" "$RESULTS/train_1epoch_metrics.jsonl"

log "3/3 $TARGET latency table for $TABLE_SPACE, validated on $SAMPLES unseen subnets"
"${SUPERNET[@]}" latency build --space "$TABLE_SPACE" --target "$TARGET" --in-chans 1 --num-classes 10 \
  --repeats "$REPEATS" --out "$RESULTS/lut_$TARGET.json" --overwrite --quiet
"${SUPERNET[@]}" latency validate --lut "$RESULTS/lut_$TARGET.json" --samples "$SAMPLES" --repeats "$REPEATS" \
  --plot "$RESULTS/lut_${TARGET}_validation.png" --report "$RESULTS/lut_${TARGET}_validation.md" --quiet \
  | tee "$RESULTS/lut_${TARGET}_validation.txt"
log "done: results in $RESULTS"
