#!/usr/bin/env bash
# Fuzz every decoder that takes bytes from outside (fuzz/fuzz_targets/*), each for a short,
# bounded time. Installs cargo-fuzz idempotently. Called by .ci/test.sh after the tests; set
# CASENOTE_SKIP_FUZZ=1 to skip it on a local run.
#
#   bash .ci/fuzz.sh                      # every target, CASENOTE_FUZZ_SECONDS (15) each
#   bash .ci/fuzz.sh hl7_parse mllp       # only these
#
# Only the stable toolchain is installed: RUSTC_BOOTSTRAP=1 lets it take the nightly flags that
# cargo-fuzz passes (sanitizer coverage). New inputs found while fuzzing go to a scratch
# directory; the committed seeds in fuzz/corpus/<target>/ are read, never written. A crash
# leaves its input in fuzz/artifacts/<target>/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${CASENOTE_SKIP_FUZZ:-0}" = "1" ]; then
  echo "fuzzing skipped (CASENOTE_SKIP_FUZZ=1)"
  exit 0
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/casenote-target}"
export RUSTC_BOOTSTRAP=1
seconds="${CASENOTE_FUZZ_SECONDS:-10}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

cd fuzz
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

# One build for all targets: optimised, with debug assertions and overflow checks (cargo-fuzz's
# default). No AddressSanitizer: the code under test forbids `unsafe`, so it would add build time
# and little else; panics, overflow checks and debug assertions are what we catch.
flags=(--sanitizer none)
echo "==> building ${#targets[@]} fuzz targets"
cargo fuzz build "${flags[@]}"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in "${targets[@]}"; do
  echo "==> fuzzing $t for ${seconds}s"
  mkdir -p "$scratch/$t" "corpus/$t"
  if ! cargo fuzz run "${flags[@]}" "$t" "$scratch/$t" "corpus/$t" -- \
      -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 >"$scratch/$t.log" 2>&1; then
    tail -n 40 "$scratch/$t.log"
    failed+=("$t")
  else
    grep -E '^stat::number_of_executed_units|^Done' "$scratch/$t.log" | tail -n 1 || true
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found crashes in: ${failed[*]} (inputs in fuzz/artifacts/)"
  exit 1
fi
echo "fuzzing: ${#targets[@]} targets ran ${seconds}s each without a crash"
