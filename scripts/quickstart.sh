#!/usr/bin/env bash
# Quick start: runs spdesk's main job against a local mail stack it starts.
#
#   scripts/quickstart.sh
#
# Installs what is missing (Debian packages via apt when run as root, the Rust build via
# cargo), starts Dovecot + Postfix on 127.0.0.1 (IMAP 10143, SMTP 10025) under var/mailstack,
# starts `spdesk run` with config/spdesk.toml plus the web console on 127.0.0.1:8480 (written
# to var/quickstart.toml; SQLite in var/spdesk.db), sends the example order mails in examples/
# to helpdesk@example.test as fa@example.test, and prints the receipts that arrive in
# fa@example.test's mailbox and the order queue. It creates the console's person `helpdesk`
# (role admin) with a random password it prints once at the end. Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STACK=$ROOT/var/mailstack
CONFIG=$ROOT/var/quickstart.toml
WEB=127.0.0.1:8480

pkgs="dovecot-imapd dovecot-lmtpd postfix swaks"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  [ "$(id -u)" = 0 ] || { echo "quickstart: missing Debian packages:$missing (run as root, or: sudo apt-get install -y$missing)" >&2; exit 1; }
  echo "== installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq $missing >/dev/null
fi
command -v cargo >/dev/null || { echo "quickstart: cargo is missing; install Rust from https://rustup.rs" >&2; exit 1; }

echo "== building spdesk"
cargo build --quiet --bin spdesk
BIN=$ROOT/target/debug/spdesk

cleanup() {
  [ -n "${DAEMON:-}" ] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
  scripts/mailstack.sh stop "$STACK" >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

echo "== starting the local mail stack in $STACK"
scripts/mailstack.sh stop "$STACK" >/dev/null 2>&1 || true
rm -rf "$STACK" var/spdesk.db var/spdesk.db-wal var/spdesk.db-shm
mkdir -p var
# The shipped config with the web console turned on (config/spdesk.toml stays as shipped; its
# relative paths, "../var/spdesk.db" and the templates, resolve the same from var/).
{ cat config/spdesk.toml; printf '\n# Added by scripts/quickstart.sh\n[web]\nlisten = "%s"\npublic_url = "http://%s"\n' "$WEB" "$WEB"; } >"$CONFIG"
chmod 600 "$CONFIG"
# The staff mailboxes config/spdesk.toml sends review, digest, incident and billing mail to.
MAILSTACK_USERS="sagsbehandler@example.test incident@example.test okonomi@example.test" \
  IMAP_PORT=10143 SMTP_PORT=10025 scripts/mailstack.sh start "$STACK" >/dev/null

echo "== starting spdesk run (log: var/spdesk.log)"
"$BIN" --config "$CONFIG" config check >/dev/null
"$BIN" --config "$CONFIG" run >var/spdesk.log 2>&1 &
DAEMON=$!
sleep 1
kill -0 "$DAEMON" 2>/dev/null || { echo "quickstart: spdesk run stopped; see var/spdesk.log (is $WEB in use?)" >&2; tail -5 var/spdesk.log >&2; exit 1; }

# The web console's first person: helpdesk, admin, a random password shown once below.
WEB_PASSWORD=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom 2>/dev/null | head -c 20 || true)
(umask 077 && printf '%s' "$WEB_PASSWORD" >var/helpdesk-password)
"$BIN" --config "$CONFIG" users add helpdesk --role admin --password-file var/helpdesk-password >/dev/null
rm -f var/helpdesk-password

# Dates that make sense today: three weeks ahead on a Tuesday, and tomorrow (too early).
DESIRED=$(date -d "next tuesday + 21 days" +%d-%m-%Y)
TOO_EARLY=$(date -d "tomorrow" +%d-%m-%Y)
STAMP=$(date +%s)
n=0
for f in examples/*.eml; do
  sed -e "s/{{DESIRED}}/$DESIRED/g" -e "s/{{TOO_EARLY}}/$TOO_EARLY/g" -e "s/{{STAMP}}/$STAMP/g" "$f" >"var/$(basename "$f")"
  echo "== sending $(basename "$f")"
  swaks --silent 2 --server 127.0.0.1 --port 10025 --from fa@example.test --to helpdesk@example.test \
        --data "@var/$(basename "$f")"
  n=$((n + 1))
done

# A Word form too: a filled .docx written by the same code as `spdesk form blank`.
cargo run --quiet --example filled_form -- var/Bestilling.docx >/dev/null
echo "== sending a mail with the Word form var/Bestilling.docx attached"
swaks --silent 2 --server 127.0.0.1 --port 10025 --from fa@example.test --to helpdesk@example.test \
      --header "Subject: Bestilling af ny URL (Word-formular)" --body "Formularen er vedhæftet." \
      --attach-type application/vnd.openxmlformats-officedocument.wordprocessingml.document \
      --attach-name Bestilling.docx --attach @var/Bestilling.docx
n=$((n + 1))

echo "== waiting for the receipts in fa@example.test's mailbox"
MAILDIR=$STACK/mail/example.test/fa/Maildir
want=$((n * 2))
for i in $(seq 1 30); do
  got=$( (find "$MAILDIR/new" "$MAILDIR/cur" -type f 2>/dev/null || true) | wc -l)
  [ "$got" -ge "$want" ] && break
  sleep 1
done
for m in $(ls -tr "$MAILDIR"/new/* "$MAILDIR"/cur/* 2>/dev/null || true); do
  echo
  echo "------------------------------------------------------------------------------"
  python3 - "$m" 2>/dev/null <<'PY' || sed -n '/^Subject:/p' "$m"
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
print("Subject:", m["Subject"]); print("To:", m["To"]); print()
print(m.get_body(("plain",)).get_content().strip())
PY
done
echo
echo "== the order queue (spdesk orders list)"
"$BIN" --config "$CONFIG" orders list
echo
echo "spdesk is still running against the local stack. Try: $BIN --config $CONFIG orders show <REF>"
echo
echo "Web console: http://$WEB/ — log in as helpdesk with password $WEB_PASSWORD (shown once)"
echo "Press Ctrl-C to stop."
wait "$DAEMON"
