#!/usr/bin/env bash
# experiments/gpu_check.sh on a lent GPU machine of this project's workplace (its `device` tool, which runs
# a command over a copy of the working tree and returns what the command leaves under $OUT, at most
# 8 files of 16 MiB). Outside that workplace, run gpu_check.sh directly.
#
#   bash experiments/gpu_lease.sh prepare      # here, once: .pylib (packages the GPU image lacks) and
#                                              # .fmnist (the data), both ignored by git (.git/info/exclude)
#   device run: bash experiments/gpu_lease.sh run [gpu_check.sh args]   carry: [".pylib", ".fmnist"]
#     with STEPS=fm (the long run alone, about 9 minutes) or STEPS=conv,sandwich,lut,train before `bash`.
#     To continue an fm run in a later call: unpack its run.tar.* into .fmrun/ (ignored), add ".fmrun" to
#     carry and set FM_EPOCHS to the first call's epochs (its res/fm_full/epochs.txt).
#     The models time-slice the GPU, so a 15-minute lease fits 30 epochs only in two calls (gpu_check.md):
#       FM_MODELS=supernet FM_EPOCHS=30 ... run          the supernet alone (~14 s an epoch on an H200)
#       FM_MODELS=baselines,scratch FM_EPOCHS=30 FM_SCRATCH_ARCHS=<that run's picks> ... run   the rest
# Results come back as $OUT/log.txt, $OUT/res.tgz (results and logs, packed every 40 s, so a killed call
# still returns them) and $OUT/run.tar.* (the fm run directory: supernet checkpoint, ONNX of the family),
# which `tar xf` after `cat run.tar.* >` joins; then run fashion_mnist_full.py --stages
# lut,pareto,inherit,measure,report here on that directory.
set -u
cd "$(dirname "$0")/.."
case "${1:-}" in
prepare)
  site=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  mkdir -p .pylib .fmnist .git/info
  for pkg in fvcore iopath yacs termcolor timm; do rm -rf ".pylib/$pkg"; cp -r "$site/$pkg" .pylib/; done
  find .pylib -name __pycache__ -prune -exec rm -rf {} +
  cp "${FM_DATA:-/usr/share/datasets/fashion-mnist}"/*.gz .fmnist/
  for d in /.pylib/ /.fmnist/ /.fmrun/; do grep -qx "$d" .git/info/exclude 2>/dev/null || echo "$d" >> .git/info/exclude; done
  du -sh .pylib .fmnist
  ;;
run)
  shift
  export PY=${PY:-python3}
  export PYTHONPATH="$PWD/.pylib:$PWD" PYTHONUNBUFFERED=1 FM_DATA="$PWD/.fmnist"
  export RESULTS=/tmp/res WORK=/tmp/work DEADLINE_S=${DEADLINE_S:-545}
  mkdir -p /tmp/bin /tmp/res /tmp/work
  [ -d .fmrun/fm_full ] && cp -r .fmrun/fm_full /tmp/work/  # an earlier call's run directory: continue it
  printf '#!/bin/sh\nexec %s -m supernet_cli "$@"\n' "$PY" > /tmp/bin/supernet && chmod +x /tmp/bin/supernet
  export PATH=/tmp/bin:$PATH
  pack() {
    tar czf "$OUT/res.tgz.tmp" --exclude='*.onnx' --exclude='*.pt' --exclude='*.safetensors' \
      --exclude='work/fm_full/data' -C /tmp res work 2>/dev/null && mv "$OUT/res.tgz.tmp" "$OUT/res.tgz"
  }
  (while sleep 40; do pack; done) &
  packer=$!
  bash experiments/gpu_check.sh "$@" 2>&1 | tee "$OUT/log.txt"
  kill "$packer" 2>/dev/null
  wait "$packer" 2>/dev/null
  pack
  [ -d /tmp/work/fm_full ] && tar cf - --exclude='fm_full/data' -C /tmp/work fm_full | split -b 15m - "$OUT/run.tar."
  rm -f "$OUT/res.tgz.tmp"
  ls -la "$OUT"
  ;;
*)
  echo "usage: bash experiments/gpu_lease.sh prepare | run [gpu_check.sh args]" >&2
  exit 2
  ;;
esac
