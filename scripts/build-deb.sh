#!/usr/bin/env bash
# Builds the Debian package of spdesk: target/debian/spdesk_VERSION-1_ARCH.deb
#
#   scripts/build-deb.sh                  a release build (10+ minutes on 2 cores the first time)
#   scripts/build-deb.sh --binary PATH    packages an spdesk binary already built, e.g. the
#                                         debug one the tests use (tests/deb.rs): seconds
#   options: --out DIR (default target/debian), --fast (quicker, larger compression)
#
# Steps: the binary (cargo build --release, or the one given) is copied, stripped, to
# pkg/stage/; `cargo run --example manpages` writes the man pages and the bash, zsh and fish
# completions from the clap definitions there; `cargo deb --no-build` packs them with the unit,
# the config template (pkg/spdesk.toml → /etc/spdesk/spdesk.toml), the templates and the
# maintainer scripts (pkg/debian/), as [package.metadata.deb] in Cargo.toml lists them.
# Needs cargo-deb (`cargo install cargo-deb --locked`) and binutils' strip.
set -euo pipefail
CARGO=${CARGO:-cargo}
BINARY=""
OUT=""
FAST=""
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) BINARY=${2:?--binary needs a path}; shift 2 ;;
    --out) OUT=${2:?--out needs a directory}; shift 2 ;;
    --fast) FAST=--fast; shift ;;
    *) echo "build-deb.sh: unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done
# Paths given are relative to where the script was started; then work from the repository.
[ -z "$BINARY" ] || BINARY=$(realpath "$BINARY")
[ -z "$OUT" ] || { mkdir -p "$OUT" && OUT=$(realpath "$OUT"); }
cd "$(dirname "$0")/.."
OUT=${OUT:-target/debian}
mkdir -p "$OUT"
"$CARGO" deb --version >/dev/null 2>&1 || {
  echo "build-deb.sh: cargo-deb is missing; install it with: cargo install cargo-deb --locked" >&2
  exit 1
}
if [ -z "$BINARY" ]; then
  echo "== cargo build --release (the first build takes 10+ minutes on 2 cores)"
  "$CARGO" build --release --locked --bin spdesk
  BINARY=${CARGO_TARGET_DIR:-target}/release/spdesk
fi
[ -x "$BINARY" ] || { echo "build-deb.sh: $BINARY is not an executable" >&2; exit 1; }

rm -rf pkg/stage
mkdir -p pkg/stage
cp "$BINARY" pkg/stage/spdesk
if command -v strip >/dev/null; then
  strip --strip-debug pkg/stage/spdesk
fi
echo "== man pages and completions (cargo run --example manpages)"
"$CARGO" run --quiet --locked --example manpages -- pkg/stage
echo "== cargo deb"
"$CARGO" deb --no-build --no-strip $FAST --output "$OUT" --quiet
