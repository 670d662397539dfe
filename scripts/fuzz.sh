#!/usr/bin/env bash
# Runs every cargo-fuzz target for a while (default 600 s each), one after another, and
# prints each run's executions and outcome. Needs the nightly toolchain and cargo-fuzz:
#   cargo install cargo-fuzz
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECS=${1:-600}
shift || true
TARGETS=${*:-$(cargo +nightly fuzz list)}
mkdir -p corpus artifacts logs
for t in $TARGETS; do
  mkdir -p "corpus/$t"
  # Seed the mail target with the project's own example mails.
  [ "$t" = mail_to_forms ] && cp ../examples/*.eml "corpus/$t/" 2>/dev/null || true
  echo "== $t for ${SECS}s"
  if cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$SECS" -rss_limit_mb=2048 \
       -timeout=10 -max_len=1048576 >"logs/$t.log" 2>&1; then
    status=ok
  else
    status="FAILED (see fuzz/logs/$t.log and fuzz/artifacts/$t/)"
  fi
  runs=$(grep -Eo 'Done [0-9]+ runs' "logs/$t.log" | tail -1 || true)
  echo "   $status; ${runs:-no summary}"
done
