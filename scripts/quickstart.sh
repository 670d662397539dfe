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
#
# Time: the first run builds spdesk in debug mode, 8-11 minutes on 2 cores (crates fetched
# and compiled once); later runs start in seconds.
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

echo "== building spdesk (cargo build: the first build takes 8-11 minutes on 2 cores, later ones seconds)"
cargo build --quiet --bin spdesk --example filled_form
BIN=$ROOT/target/debug/spdesk
echo "== spdesk is $BIN"
echo "   (the README's commands say 'spdesk': put it on PATH with 'cargo install --path .',"
echo "   a release build of 10+ minutes, or install the Debian package, scripts/build-deb.sh)"

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

# The examples are whole mails with fixed dates (examples/README.md): `spdesk check` reads
# them as they are. Here they move to today: the desired date three weeks ahead on a Tuesday
# (and tomorrow for 03, too early), the Date header now.
DESIRED=$(date -d "next tuesday + 21 days" +%d-%m-%Y)
TOO_EARLY=$(date -d "tomorrow" +%d-%m-%Y)
NOW=$(LC_ALL=C date -R)
n=0
for f in examples/*.eml; do
  sed -e "s/12-01-2027/$DESIRED/g" -e "s/02-12-2026/$TOO_EARLY/g" -e "s/^Date: .*/Date: $NOW/" \
      "$f" >"var/$(basename "$f")"
  echo "== sending $(basename "$f")"
  swaks --silent 2 --server 127.0.0.1 --port 10025 --from fa@example.test --to helpdesk@example.test \
        --data "@var/$(basename "$f")"
  n=$((n + 1))
done

# A Word form too: a filled .docx written by the same code as `spdesk form blank`.
"$ROOT/target/debug/examples/filled_form" var/Bestilling.docx >/dev/null
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
# In the order they were written (Date header), then by order reference; within one order and
# second by the version and step its Message-ID names (SP-2026-00001.v1.modtaget@…: the
# receipt of arrival before the verdict), then as delivered. File times do not decide.
receipts=$( (find "$MAILDIR/new" "$MAILDIR/cur" -type f 2>/dev/null || true) | sort)
# shellcheck disable=SC2086
python3 - $receipts <<'PY' || grep -h '^Subject:' $receipts
import email, email.policy, email.utils, os, re, sys
mails = []
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        m = email.message_from_binary_file(f, policy=email.policy.default)
    try:
        when = email.utils.parsedate_to_datetime(str(m["Date"])).timestamp()
    except (TypeError, ValueError):
        when = 0.0
    ref = re.search(r"\[SP-(\d{4})-(\d+)\]", str(m["Subject"] or ""))
    ref = (int(ref.group(1)), int(ref.group(2))) if ref else (0, 0)
    step = re.match(r"<SP-\d+-\d+\.v(\d+)\.(\w+)@", str(m["Message-ID"] or ""))
    step = (int(step.group(1)), step.group(2) != "modtaget") if step else (0, False)
    # Maildir names start with the delivery time: SECONDS.MMICROSECONDS...
    got = re.match(r"(\d+)\.M(\d+)", os.path.basename(path))
    got = (int(got.group(1)), int(got.group(2))) if got else (0, 0)
    mails.append((when, ref, step, got, m))
for *_, m in sorted(mails, key=lambda t: t[:4]):
    print()
    print("-" * 78)
    print("Date:", m["Date"]); print("Subject:", m["Subject"]); print("To:", m["To"]); print()
    body = m.get_body(("plain",))
    print(body.get_content().strip() if body else "")
PY
echo
echo "== the order queue (spdesk orders list)"
"$BIN" --config "$CONFIG" orders list
echo
echo "spdesk is still running against the local stack. Try: $BIN --config $CONFIG orders show <REF>"
echo
echo "Web console: http://$WEB/ — log in as helpdesk with password $WEB_PASSWORD (shown once)"
echo "Press Ctrl-C to stop."
wait "$DAEMON"
