#!/usr/bin/env bash
# Builds the WebAssembly component we ship: cargo's `--profile wasm` build, then binaryen's
# `wasm-opt -Oz` on its program (scripts/optimize_component.py), about a sixth smaller.
#
#   scripts/component.sh        # writes <target>/wasm32-wasip2/wasm/affinity-sync.wasm
#
# This is `spin build`'s command (spin.toml), what scripts/test.sh builds and size-checks, and
# what tests/component.rs and bench/component*.sh load.
#
# wasm-opt: $AFFINITY_SYNC_WASM_OPT if set (a command), else a `wasm-opt` of binaryen 116 or
# later on PATH, else binaryen 132 from npm installed once into ~/.cache/affinity-sync/binaryen
# (needs Node.js and npm; Debian's binaryen 108 is too old for what rustc emits).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
cargo build -p affinity-sync-wasm --locked --target wasm32-wasip2 --profile wasm
built="$target/wasm32-wasip2/wasm/affinity_sync_wasm.wasm"
shipped="$target/wasm32-wasip2/wasm/affinity-sync.wasm"

binaryen_version=132.0.0
wasm_opt() {
  if [ -n "${AFFINITY_SYNC_WASM_OPT:-}" ]; then
    echo "$AFFINITY_SYNC_WASM_OPT"
    return
  fi
  if command -v wasm-opt >/dev/null; then
    local version
    version=$(wasm-opt --version | grep -oE 'version [0-9]+' | grep -oE '[0-9]+' || echo 0)
    if [ "$version" -ge 116 ]; then
      echo wasm-opt
      return
    fi
  fi
  local home="${XDG_CACHE_HOME:-$HOME/.cache}/affinity-sync/binaryen"
  if [ ! -x "$home/node_modules/.bin/wasm-opt" ]; then
    if ! command -v npm >/dev/null; then
      echo "scripts/component.sh needs binaryen's wasm-opt (version 116 or later): install Node.js and npm" >&2
      echo "(it then fetches binaryen $binaryen_version from npm), or put wasm-opt on PATH, or name it in AFFINITY_SYNC_WASM_OPT" >&2
      exit 1
    fi
    mkdir -p "$home"
    npm install --silent --no-audit --no-fund --prefix "$home" "binaryen@$binaryen_version" >&2
  fi
  echo "$home/node_modules/.bin/wasm-opt"
}

# Rebuilt only when cargo's output changed: wasm-opt takes most of a minute.
if [ "$shipped" -nt "$built" ]; then
  echo "$shipped is up to date ($(stat -c %s "$shipped") bytes)"
  exit 0
fi
read -r -a opt <<<"$(wasm_opt)"
python3 scripts/optimize_component.py "$built" "$shipped.partial" "${opt[@]}"
mv "$shipped.partial" "$shipped"
echo "$shipped: $(stat -c %s "$shipped") bytes"
