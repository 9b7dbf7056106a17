#!/usr/bin/env bash
# The test command (README "Run the tests"). Installs what the tests need, idempotently, then
# checks formatting and lints and runs every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/casenote-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CASENOTE_NPM_PREFIX="${CASENOTE_NPM_PREFIX:-$HOME/.cache/casenote-npm}"

log() { printf '\n==> %s\n' "$*"; }

# ---- system packages (Debian) ----
need_apt=()
command -v socat >/dev/null || need_apt+=(socat)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

# ---- test oracles: real decoders and protocol peers ----
if ! python3 -c 'import zxingcpp, PIL, hl7' 2>/dev/null; then
  log "installing Python test oracles (zxing-cpp, pillow, hl7)"
  python3 -m pip install --quiet --disable-pip-version-check zxing-cpp pillow hl7
fi
if [ ! -d "$CASENOTE_NPM_PREFIX/node_modules/zpl-renderer-js" ] && command -v npm >/dev/null; then
  log "installing the ZPL renderer oracle (npm zpl-renderer-js)"
  mkdir -p "$CASENOTE_NPM_PREFIX"
  npm install --silent --no-audit --no-fund --prefix "$CASENOTE_NPM_PREFIX" zpl-renderer-js >/dev/null
fi

log "formatting"
cargo fmt --all -- --check

log "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "tests"
cargo test --workspace --locked

log "fuzzing (CASENOTE_SKIP_FUZZ=1 skips it)"
bash .ci/fuzz.sh

log "all tests passed"
