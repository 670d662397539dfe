#!/bin/bash
# Usage: peak.sh FILE — runs `spdesk check FILE --json`, prints the parent's own peak RSS (VmHWM)
# and the largest reader child's, sampled every 10 ms (time -v would mix in the children).
bin=${SPDESK:-/work/wt-attack/target/debug/spdesk}
"$bin" --config /work/wt-attack/config/spdesk.toml check "$1" --json >/tmp/peak.out 2>/tmp/peak.err &
pid=$!; p=0; c=0; start=$(date +%s.%N)
while kill -0 $pid 2>/dev/null; do
  v=$(awk '/VmHWM/{print $2}' /proc/$pid/status 2>/dev/null); [ -n "$v" ] && [ "$v" -gt "$p" ] && p=$v
  for k in $(cat /proc/$pid/task/*/children 2>/dev/null); do
    v=$(awk '/VmHWM/{print $2}' /proc/$k/status 2>/dev/null); [ -n "$v" ] && [ "$v" -gt "$c" ] && c=$v
  done
  sleep 0.01
done
wait $pid; rc=$?; end=$(date +%s.%N)
echo "rc=$rc parent_peak_kb=$p child_peak_kb=$c wall_s=$(echo "$end - $start" | bc)"
