#!/usr/bin/env bash
# Issue 11's comparison end to end on one 2-core CPU machine, in the background. Every stage of the driver
# (experiments/fashion_mnist_full.py) resumes from what its run directory holds, so after an interruption
# (a reboot, a session that ended) the same command goes on where it stopped.
#
#   nohup experiments/full_chain.sh --out RUN --space FILE --epochs 60 --stretch 5 --batch-size 512 \
#       --lr 0.8 --seed 0 --nproc 2 --threads 1 --lut-from TABLE --name REPORT > RUN.log 2>&1 &
#
# Every option goes to every stage. Order: the supernet on both cores (--nproc 2; a supernet already being
# trained in RUN by another process is waited for); then two lanes, one core each: [lut, pareto searches,
# MobileNetV2 x0.35 and x1 alone] beside [x0.5 and x0.75 alone]; then the three extracted archs from
# scratch, [large] beside [small, middle]; last, alone on the machine, inherit, measure (latency) and report.
# Exit status: the first failed stage's; a lane's failure is reported after the other lane has finished.
set -euo pipefail

py=${PYTHON:-python}
driver=${FULL_CHAIN_DRIVER:-"$(cd "$(dirname "$0")" && pwd)/fashion_mnist_full.py"}
if [ $# -eq 0 ] || [[ " $* " != *" --out "* ]]; then
    echo "usage: $0 --out RUN [options of experiments/fashion_mnist_full.py...]" >&2
    exit 2
fi

stage() {
    echo "== $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg): $*"
    "$py" "$driver" "$@"
}

lanes() {  # run two commands side by side (one core each); fail if either failed
    "$1" & local a=$!
    "$2" & local b=$!
    local rc=0 rb=0
    wait "$a" || rc=$?
    wait "$b" || rb=$?
    [ "$rc" -ne 0 ] || rc=$rb
    [ "$rc" -eq 0 ] || { echo "== a lane failed (exit $rc)"; return "$rc"; }
}

opts=("$@")
search_then_small() { stage "${opts[@]}" --stages lut,pareto && stage "${opts[@]}" --stages baselines --widths 0.35,1; }
middle_widths() { stage "${opts[@]}" --stages baselines --widths 0.5,0.75; }
scratch_large() { stage "${opts[@]}" --stages scratch --scratch-tags large; }
scratch_rest() { stage "${opts[@]}" --stages scratch --scratch-tags small,middle; }

stage "${opts[@]}" --stages supernet
lanes search_then_small middle_widths
lanes scratch_large scratch_rest
stage "${opts[@]}" --stages inherit,measure,report
echo "== $(date -u +%FT%TZ) done"
