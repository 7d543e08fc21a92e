#!/usr/bin/env bash
# Every GPU measurement of the open issues, in steps sized to a device lease ($DEADLINE_S seconds for the
# whole script; STEPS picks some of them, comma-separated, default all, always in this order):
#   fm       the full Fashion-MNIST comparison at 30+ epochs: the supernet, timm MobileNetV2 x0.35/0.5/0.75/1.0
#            and 3 archs from scratch (FM_SCRATCH_ARCHS, default the 12-epoch CPU run's picks), those
#            FM_MODELS names trained at once on the one GPU (experiments/fashion_mnist_full.py); epochs
#            FM_EPOCHS, else from a timed probe so that the run fits (experiments/gpu_epochs.py) [issue 11]
#   conv     cuDNN's per-shape plans vs the plan-free ops on the supernet step
#            (experiments/bench_cuda_conv.py)                                                   [issue 10]
#   sandwich mbv2-imagenet sandwich step at 224 px, AMP bf16, channels_last, against the same subnets as
#            static timm models (experiments/bench_sandwich_step.py --warm-static)              [issue 10]
#   lut      a torch-cuda latency table for mbv2-small, built and validated on 50 unseen subnets [issue 10]
#   train    one epoch of `supernet train` on the GPU at the fm step's batch, images/s, accuracy [issue 10]
#   tests    the tests that need a GPU (CUDA graph timer, plan-free convolutions, aliasing leaves, extract --device cuda), with pytest [issue 10]
# Results go to $RESULTS (default experiments/results/gpu/); run directories to $WORK (default a temp dir).
# The search, latency measurement and report of the fm step run afterwards on the CPU machine the ort-cpu
# table belongs to (fashion_mnist_full.py --stages lut,pareto,inherit,measure,report).
#
#   bash experiments/gpu_check.sh                          # on the GPU machine, every step
#   STEPS=fm bash experiments/gpu_check.sh                 # the long run alone (one lease call)
#   bash experiments/gpu_check.sh --device cpu             # CPU smoke setting: tiny sizes, proves it runs
# The fm step resumes what $WORK/fm_full holds (every model checkpoints each epoch): a run too long for one
# lease continues in the next with the same FM_EPOCHS (FM_BATCH, FM_LR: default 512 and 0.8).
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=cuda
[ "${1:-}" = "--device" ] && DEVICE="${2:?--device needs cuda or cpu}"
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
SUPERNET=("$PY" -m supernet_cli)
RESULTS=${RESULTS:-experiments/results/gpu}
WORK=${WORK:-$(mktemp -d)}
DEADLINE_S=${DEADLINE_S:-540}  # the whole script; the fm step trains for what is left less RESERVE_S
STEPS=${STEPS:-fm,conv,sandwich,lut,train,tests}
RESERVE_S=${RESERVE_S:-$([ "$STEPS" = fm ] && echo 30 || echo 300)}  # copying, and the steps after fm
FM_DATA=${FM_DATA:-/usr/share/datasets/fashion-mnist}
want() { [[ ",$STEPS," == *",$1,"* ]]; }
# FM_MODELS: which of the fm step's models train in this call (default all, at once). Eight processes
# time-slice one GPU: the supernet's first epoch took 49.6 s beside the seven static models, 19.2 s alone
# (gpu_check.md), so a lease too short for all of them trains the supernet alone in one call and the
# static models in another.
FM_MODELS=${FM_MODELS:-supernet,baselines,scratch}
want_model() { [[ ",$FM_MODELS," == *",$1,"* ]]; }
START=$SECONDS
left() { echo $((DEADLINE_S - (SECONDS - START))); }
mkdir -p "$RESULTS" "$WORK"
log() { echo "[gpu_check $(date -u +%H:%M:%S)] $*"; }

if [ "$DEVICE" = cuda ]; then
  SPACE=mbv2-imagenet; BATCH=64; ROUNDS=5; IN_CHANS=3; CONV=(--rounds 3 --steps 8 --slow-steps 3)
  DATA=(--dataset fashion-mnist --data "$FM_DATA" --batch-size 512 --lr 0.8 -j 2); TABLE_SPACE=mbv2-small; TARGET=torch-cuda; SAMPLES=50; REPEATS=50
  # fm: linear LR rule from the CPU recipe (batch 128, lr 0.2); -j 2 loader processes per model
  FM=(--batch-size "${FM_BATCH:-512}" --lr "${FM_LR:-0.8}" --loader-workers "${FM_WORKERS:-2}" --nproc 0 --threads 1); FM_CHOICES=40,36,30,24,20,16,12; PROBE_STEPS=20
  "$PY" -c "import torch, timm; assert torch.cuda.is_available(), 'no CUDA device'
print(torch.cuda.get_device_name(), 'torch', torch.__version__, 'timm', timm.__version__)" | tee "$RESULTS/device.txt"
  { uptime; nproc; } >> "$RESULTS/device.txt" || true
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> "$RESULTS/device.txt" || true
else  # smoke: the same steps at toy sizes on the CPU
  SPACE=tests/spaces/tiny.yaml; BATCH=8; ROUNDS=1; IN_CHANS=1; CONV=(--batch-size 8 --rounds 1 --steps 1 --slow-steps 1)
  DATA=(--dataset digits --space tests/spaces/tiny.yaml --batch-size 16 --calib-images 32)
  TABLE_SPACE=tests/spaces/tiny.yaml; TARGET=torch-cpu; SAMPLES=3; REPEATS=3
  FM=(--batch-size 64 --lr 0.1 --nproc 0 --threads 1 --train-images 256 --widths 0.35); FM_CHOICES=1; PROBE_STEPS=1
  echo "cpu smoke run" > "$RESULTS/device.txt"
fi

if want fm; then
  log "fm: full Fashion-MNIST on $DEVICE, at once: $FM_MODELS (supernet; baselines: timm MobileNetV2 x0.35-1.0; scratch: 3 archs)"
  RUN="$WORK/fm_full"; mkdir -p "$RUN/logs" "$RESULTS/fm_full"
  if [ -f "$FM_DATA/train-images-idx3-ubyte.gz" ]; then
    # FM_EPOCHS: fixed epochs (a continued run must keep its first call's); else the probe chooses
    [ -n "${FM_EPOCHS:-}" ] && EPOCHS=$FM_EPOCHS || EPOCHS=$("$PY" experiments/gpu_epochs.py --device "$DEVICE" --batch-size "${FM[1]}" --steps "$PROBE_STEPS" \
      --seconds "$(( $(left) - RESERVE_S ))" --choices "$FM_CHOICES" --margin "$([ "$FM_MODELS" = supernet ] && echo 2 || echo 2.5)" 2> >(tee "$RESULTS/fm_full/epochs.txt" >&2))
    FULL=("$PY" experiments/fashion_mnist_full.py --out "$RUN" --device "$DEVICE" --data "$FM_DATA" "${FM[@]}"
          --epochs "$EPOCHS" --stretch "$("$PY" -c "print(f'{$EPOCHS / 12:g}')")"
          --scratch-archs "${FM_SCRATCH_ARCHS:-experiments/fashion_mnist_full12_picks.json}")
    FULL=(timeout "$(( $(left) - 20 ))" "${FULL[@]}")  # nothing may outlive the lease
    pids=()
    if want_model supernet; then
      "${FULL[@]}" --stages supernet > "$RUN/logs/supernet.log" 2>&1 & pids+=($!)
    fi
    for w in 0.35 0.5 0.75 1; do
      want_model baselines || break
      [[ " ${FM[*]} " == *" --widths "* && $w != 0.35 ]] && continue  # the smoke setting trains one width
      "${FULL[@]}" --stages baselines --widths "$w" > "$RUN/logs/baseline_$w.log" 2>&1 & pids+=($!)
    done
    for t in small middle large; do
      want_model scratch || break
      "${FULL[@]}" --stages scratch --scratch-tags "$t" > "$RUN/logs/scratch_$t.log" 2>&1 & pids+=($!)
    done
    failed=0
    for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
    log "fm: $failed of ${#pids[@]} training processes failed (logs in $RESULTS/fm_full/logs)"
    cp -r "$RUN/logs" "$RUN/commands.json" "$RUN/baselines" "$RUN/scratch" "$RESULTS/fm_full/" 2>/dev/null || true
    cp "$RUN/supernet/metrics.jsonl" "$RUN/supernet/config.json" "$RESULTS/fm_full/" 2>/dev/null || true
    rm -f "$RESULTS"/fm_full/*/*.onnx "$RESULTS"/fm_full/*/*.state.pt
  else
    log "fm: skipped: no Fashion-MNIST in $FM_DATA (set FM_DATA)"
  fi
fi

if want conv; then
  log "conv: cuDNN per-shape plans vs the plan-free ops, mbv2-small sandwich step"
  timeout 120 "$PY" experiments/bench_cuda_conv.py --device "$DEVICE" "${CONV[@]}" | tee "$RESULTS/cuda_conv.txt" \
    || log "conv: failed or timed out (rc $?)"
fi

if want sandwich; then
  log "sandwich: sandwich step vs static timm twins ($SPACE, batch $BATCH, bf16, channels_last)"
  timeout 150 "$PY" experiments/bench_sandwich_step.py --space "$SPACE" --device "$DEVICE" --amp bf16 --channels-last \
    --batch-size "$BATCH" --in-chans "$IN_CHANS" --rounds "$ROUNDS" --threads 1 --warm-static | tee "$RESULTS/sandwich_step.txt" \
    || log "sandwich: failed or timed out (rc $?)"
fi

if want lut; then
  log "lut: $TARGET latency table for $TABLE_SPACE, validated on $SAMPLES unseen subnets"
  { timeout 150 "${SUPERNET[@]}" latency build --space "$TABLE_SPACE" --target "$TARGET" --in-chans 1 --num-classes 10 \
      --repeats "$REPEATS" --out "$RESULTS/lut_$TARGET.json" --overwrite --quiet &&
    timeout 90 "${SUPERNET[@]}" latency validate --lut "$RESULTS/lut_$TARGET.json" --samples "$SAMPLES" --repeats "$REPEATS" \
      --plot "$RESULTS/lut_${TARGET}_validation.png" --report "$RESULTS/lut_${TARGET}_validation.md" --quiet \
      | tee "$RESULTS/lut_${TARGET}_validation.txt"; } || log "lut: failed or timed out (rc $?)"
fi

if want train; then
  log "train: one epoch of training on $DEVICE"
  { timeout "$(( $(left) > 30 ? $(left) : 30 ))" "${SUPERNET[@]}" train "${DATA[@]}" --epochs 1 --device "$DEVICE" \
      --nproc-per-node 1 -q --out "$WORK/train" | tee "$RESULTS/train_1epoch.txt" &&
    cp "$WORK/train/metrics.jsonl" "$RESULTS/train_1epoch_metrics.jsonl"; } || log "train: failed or timed out (rc $?)"
fi

if want tests; then
  log "tests: the GPU-only tests"
  timeout 180 "$PY" -m pytest -q -p no:cacheprovider tests/latency/test_cuda_timer.py tests/supernet/test_cuda_conv.py tests/supernet/test_alias.py \
    tests/extract/test_cli.py::test_search_on_the_gpu_scores_and_ships_what_the_cpu_does \
    2>&1 | tee "$RESULTS/gpu_tests.txt" || log "tests: failed or timed out (rc $?)"
fi

log "done: results in $RESULTS"
