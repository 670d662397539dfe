#!/usr/bin/env bash
# The whole test suite, as the README gives it. Integration tests start their own Dovecot +
# Postfix (scripts/mailstack.sh), so those packages must be installed and tests run as root;
# tests/display.rs opens the billing CSV in LibreOffice Calc headless (libreoffice-calc-nogui)
# and reads the cells back with python3-openpyxl; tests/browser.rs drives Debian's Chromium with
# Playwright for Python (PyPI, its own browser download unused) and checks each page with
# axe-core (npm, into tests/browser/node_modules); tests/deb.rs builds the Debian package with
# cargo-deb (installed here when missing), installs and purges it with dpkg and reads its
# manual with man-db. PostgreSQL (Debian's postgresql): tests start private servers
# (tests/common/postgres.rs), and the core daemon tests run a second time on it.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS="dovecot-imapd dovecot-lmtpd postfix postgresql swaks ca-certificates openssl time libreoffice-calc-nogui python3-openpyxl chromium fonts-dejavu-core fonts-liberation python3-pip man-db binutils"
# The Playwright for Python the browser test is written against.
PLAYWRIGHT=1.65.2
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# Node and npm for axe-core: Debian's when there is none (a nodesource node brings its own npm).
command -v npm >/dev/null || missing="$missing nodejs npm"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q --no-install-recommends $missing
  else
    echo "test.sh: missing packages:$missing (install with: apt-get install -y$missing)" >&2
  fi
fi
if [ "$(python3 -c 'import importlib.metadata as m; print(m.version("playwright"))' 2>/dev/null)" != "$PLAYWRIGHT" ]; then
  echo "test.sh: installing playwright==$PLAYWRIGHT for python3 (Chromium comes from Debian)"
  # Debian's python3 is "externally managed": the variable lets pip install beside it (older
  # pips ignore it). PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: nothing is fetched but the package.
  PIP_BREAK_SYSTEM_PACKAGES=1 PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
    python3 -m pip install -q "playwright==$PLAYWRIGHT"
fi
if [ ! -f tests/browser/node_modules/axe-core/axe.min.js ] ||
   [ tests/browser/package-lock.json -nt tests/browser/node_modules/.package-lock.json ]; then
  echo "test.sh: npm ci --prefix tests/browser (axe-core)"
  npm ci --prefix tests/browser --no-audit --no-fund
fi
if ! cargo deb --version >/dev/null 2>&1; then
  echo "test.sh: cargo install cargo-deb --version 3.8.0 --locked (for tests/deb.rs; a few minutes, once)"
  cargo install cargo-deb --version 3.8.0 --locked
fi
status=0
cargo test --all-targets --no-fail-fast || status=$?
# The core of the daemon once more on PostgreSQL: intake, resubmission, execute, digest and
# billing, the mail servers' outages. (The crash harness and the database outage have variants
# of their own per engine: crash.rs runs one daemon on SQLite, crash_instances.rs three instances on PostgreSQL,
# outage.rs a locked and a full SQLite and a PostgreSQL down for two minutes.)
echo "test.sh: the core daemon tests again on PostgreSQL (SPDESK_TEST_DB=postgres)"
export SPDESK_TEST_DB=postgres
cargo test --no-fail-fast --test intake --test resubmission --test execute --test digest_billing || status=$?
cargo test --no-fail-fast --test outage -- imap_down smtp_down || status=$?
exit $status
