#!/usr/bin/env bash
# The whole test suite, as the README gives it. Integration tests start their own Dovecot +
# Postfix (scripts/mailstack.sh), so those packages must be installed and tests run as root;
# tests/display.rs opens the billing CSV in LibreOffice Calc headless (libreoffice-calc-nogui)
# and reads the cells back with python3-openpyxl.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS="dovecot-imapd dovecot-lmtpd postfix swaks ca-certificates openssl time libreoffice-calc-nogui python3-openpyxl"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q --no-install-recommends $missing
  else
    echo "test.sh: missing packages:$missing (install with: apt-get install -y$missing)" >&2
  fi
fi
exec cargo test --all-targets --no-fail-fast
