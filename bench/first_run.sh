#!/usr/bin/env bash
# What a newcomer waits for: the README's first command (`cargo run -- demo`) from cold, and
# with TESTS=1 the test command (`./scripts/test.sh`, as CI runs it) from cold. "Cold" is an
# empty target dir and an empty cargo registry cache: a fresh clone of REV (default HEAD) in
# a scratch dir, built with a CARGO_HOME of its own (the rustup toolchain is reused: it is
# installed once per machine, not per project).
#
# Appends a row per command to bench/results/first_run.md: the time to the demo's first line
# (what a newcomer waits for), the whole command, and DuckDB's C++ alone (from `Compiling
# libduckdb-sys` to `Compiling duckdb`, the part no change of ours can make faster, only
# lighter: debug info and optimisation). Nothing else should run on the machine meanwhile.
#
#   bench/first_run.sh                 # HEAD, the demo
#   REV=6289ee1 bench/first_run.sh     # an older commit
#   TESTS=1 bench/first_run.sh         # also ./scripts/test.sh (40+ minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
rev=$(git rev-parse --short "${REV:-HEAD}")
work=$(mktemp -d /tmp/affinity-first-run.XXXXXX)
trap 'rm -rf "$work"' EXIT
results=bench/results/first_run.md

# Each output line prefixed with the seconds since the command started.
timed() {
  local log=$1; shift
  local start; start=$(date +%s.%N)
  { "$@" 2>&1; echo "EXIT $?"; } | while IFS= read -r line; do
    printf '%.1f %s\n' "$(echo "$(date +%s.%N) - $start" | bc)" "$line"
  done > "$log"
}

# Seconds at the first line of $1 matching $2 (empty when none).
at() { grep -m1 -E "$2" "$1" | cut -d' ' -f1 || true; }

minutes() { [ -n "$1" ] && printf '%d min %02d s' "$(echo "$1 / 60" | bc)" "$(echo "$1 % 60 / 1" | bc)" || echo "-"; }

measure() {
  local name=$1 first=$2; shift 2
  rm -rf "$work/clone" "$work/cargo-home"
  git clone -q "$repo" "$work/clone"
  git -C "$work/clone" checkout -q "$rev"
  local log="$work/$name.log"
  echo "measuring '$*' at $rev (log: $log)" >&2
  (cd "$work/clone" && timed "$log" env CARGO_HOME="$work/cargo-home" \
    PATH="$work/cargo-home/bin:$HOME/.cargo/bin:$PATH" CARGO_TARGET_DIR="$work/clone/target" "$@")
  local end status shown duck_from duck_to
  end=$(tail -1 "$log" | cut -d' ' -f1)
  status=$(tail -1 "$log" | awk '{print $3}')
  shown=$(at "$log" "$first")
  duck_from=$(at "$log" 'Compiling libduckdb-sys')
  duck_to=$(at "$log" 'Compiling duckdb v')
  local duck=""
  [ -n "$duck_from" ] && [ -n "$duck_to" ] && duck=$(echo "$duck_to - $duck_from" | bc)
  cp "$log" "bench/results/first_run-$name-$rev.log"
  printf '| %s | %s | `%s` | %s | %s | %s | %s |\n' "$(date +%F)" "$rev" "$*" \
    "$(minutes "$shown")" "$(minutes "$end")" "$(minutes "$duck")" \
    "$([ "$status" = 0 ] && echo ok || echo "exit $status")" >> "$results"
}

if [ ! -f "$results" ]; then
  cat > "$results" <<'EOF'
# First run from cold (bench/first_run.sh)

A fresh clone, an empty target dir and an empty cargo registry cache (a CARGO_HOME of its
own), on the 2-core machine with nothing else running. "First line": until the demo prints
its first line (for the test command, until its first test result); "DuckDB's C++": from
`Compiling libduckdb-sys` to `Compiling duckdb`, compiled alongside the other crates.

| date | commit | command | first line | whole command | DuckDB's C++ | result |
| --- | --- | --- | --- | --- | --- | --- |
EOF
fi
measure demo 'Affinity test double on' cargo run -- demo
if [ "${TESTS:-}" = 1 ]; then
  measure tests '^[0-9.]+ test result: ' env CI=true ./scripts/test.sh
fi
tail -n 2 "$results"
