#!/usr/bin/env bash
# Fuzzes what affinity-sync reads from outside (queue messages, v1 and v2 pages, webhook
# deliveries): every target in fuzz/ for SECONDS each (default 60), with cargo-fuzz on
# nightly, starting from fuzz/seeds/. Prints each target's executions; fails on a crash,
# whose input cargo-fuzz leaves in fuzz/artifacts/<target>/ (make it a regression test).
#   scripts/fuzz.sh [--dev] [SECONDS]
# --dev builds without optimisation (about a minute from cold instead of half an hour; each
# execution is slower): the smoke run scripts/test.sh does. Long runs use the default.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=()
if [ "${1:-}" = "--dev" ]; then
  profile=(--dev)
  shift
fi
secs=${1:-60}

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# Its own target dir, reused between runs: the sanitizer build shares nothing with stable's.
export CARGO_TARGET_DIR="${AFFINITY_SYNC_FUZZ_TARGET:-$HOME/.cache/affinity-sync/fuzz-target}"

cargo +nightly fuzz build "${profile[@]}"
for t in $(cargo +nightly fuzz list); do
  mkdir -p "fuzz/corpus/$t"
  log="$CARGO_TARGET_DIR/fuzz-$t.log"
  if ! cargo +nightly fuzz run "${profile[@]}" "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
      -max_total_time="$secs" -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz target $t crashed: the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  echo "$t: $runs executions in ${secs}s, no crash"
done
