#!/usr/bin/env bash
# Receipt latency over the local mail stack: sends a .docx form N times with swaks (one at a
# time) and measures, for each, the time from handing the mail to SMTP until its "modtaget"
# receipt is in the requester's mailbox. Prints every time and the median.
#
#   scripts/latency.sh FORM.docx [N]      (default N = 10; run as root: Postfix needs it)
set -euo pipefail
cd "$(dirname "$0")/.."
FORM=$(realpath "${1:?usage: scripts/latency.sh FORM.docx [N]}")
N=${2:-10}
ROOT=$(pwd)
WORK=$(mktemp -d /tmp/spdesk-latency.XXXXXX)
# Postfix and Dovecot run as their own users and must reach the stack below this folder.
chmod 755 "$WORK"
cargo build --quiet --release --bin spdesk
BIN=$ROOT/target/release/spdesk

cleanup() {
  [ -n "${DAEMON:-}" ] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
  scripts/mailstack.sh stop "$WORK/stack" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

scripts/mailstack.sh start "$WORK/stack" >/dev/null
. "$WORK/stack/env"
sed -e "s/^port = 10143/port = $IMAP_PORT/" -e "s/^port = 10025/port = $SMTP_PORT/" \
    -e "s|^url = .*|url = \"sqlite://$WORK/spdesk.db?mode=rwc\"|" \
    -e "s/^receipts_per_address_per_hour = .*/receipts_per_address_per_hour = 100000/" \
    config/spdesk.toml >"$WORK/spdesk.toml"
cp -r templates "$WORK/" 2>/dev/null || true
"$BIN" --config "$WORK/spdesk.toml" run >"$WORK/spdesk.log" 2>&1 &
DAEMON=$!
sleep 1

MAILDIR=$WORK/stack/mail/example.test/fa/Maildir
times=()
for i in $(seq 1 "$N"); do
  subject="Latency $i $RANDOM"
  t0=$(date +%s%N)
  swaks --silent 2 --server 127.0.0.1 --port "$SMTP_PORT" --from fa@example.test \
        --to helpdesk@example.test --header "Subject: $subject" --body "Formularen er vedhæftet." \
        --attach-type application/vnd.openxmlformats-officedocument.wordprocessingml.document \
        --attach-name Bestilling.docx --attach "@$FORM"
  until grep -qls "Kvittering for modtagelse: $subject" "$MAILDIR"/new/* 2>/dev/null; do
    sleep 0.005
    if [ $(( $(date +%s%N) - t0 )) -gt 30000000000 ]; then
      echo "no receipt for \"$subject\" within 30 s; daemon log:" >&2; tail -20 "$WORK/spdesk.log" >&2; exit 1
    fi
  done
  t1=$(date +%s%N)
  dt=$(awk -v ns=$((t1 - t0)) 'BEGIN {printf "%.3f", ns / 1e9}')
  times+=("$dt")
  printf 'send %2d: %.3f s\n' "$i" "$dt"
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
printf 'median of %d: %.3f s (machine: %s cores, %s)\n' "$N" "$median" "$(nproc)" "$(uname -m)"
