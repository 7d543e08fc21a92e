#!/usr/bin/env bash
# Usage: experiments/cpu_monitor.sh PGID RUN/supernet/metrics.jsonl RUN/supernet_cpu.log &  (issue 11: the
# supernet run of fashion_mnist_full.py predates the trainer recording cpu_time_s; full_report.py reads the log)
# Sample the cumulative CPU time (user+system, all processes of a process group) every 20 s, with the number
# of finished epochs in metrics.jsonl: gives CPU seconds per epoch for a run that does not record it itself.
PGID=$1; METRICS=$2; OUT=$3; TCK=$(getconf CLK_TCK)
while kill -0 -- -$PGID 2>/dev/null; do
  ticks=0
  for p in $(pgrep -g $PGID); do
    read -r -a f < /proc/$p/stat 2>/dev/null || continue
    ticks=$((ticks + f[13] + f[14] + f[15] + f[16]))
  done
  echo "$(date +%s) $(wc -l < $METRICS) $(awk -v t=$ticks -v h=$TCK 'BEGIN{printf "%.1f", t/h}')" >> $OUT
  sleep 20
done
