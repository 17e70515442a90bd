#!/usr/bin/env bash
# The Lambda function on a Runtime API the project did not write (issue 28): cargo-lambda's
# `watch --only-lambda-apis` (cargo-lambda from PyPI) serves it, and a small sync runs through
# it with `cargo lambda invoke --data-file` SQS events; bench/cargo_lambda.py checks the
# result against the CLI's own sync of the same data and writes bench/results/cargo_lambda.md.
#
#   bench/cargo_lambda.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-18391}
MOTO_PORT=${MOTO_PORT:-18392}
RUNTIME_PORT=${RUNTIME_PORT:-18393}
TARGET=${CARGO_TARGET_DIR:-target}

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet -r scripts/requirements-test.txt cargo-lambda
export PATH="$PWD/.venv/bin:$PATH"   # `cargo lambda` is the cargo-lambda binary the wheel installs

cargo build --workspace --all-targets --locked -q   # the test build (DuckDB compiled once)

work=$(mktemp -d)
trap 'kill $mock_pid $moto_pid $watch_pid 2>/dev/null || true; rm -rf "$work"' EXIT
"$TARGET/debug/affinity-sync" mock --small --port "$PORT" >"$work/mock.log" 2>&1 &
mock_pid=$!
.venv/bin/python -m moto.server -H 127.0.0.1 -p "$MOTO_PORT" >"$work/moto.log" 2>&1 &
moto_pid=$!
cargo lambda watch --only-lambda-apis -A 127.0.0.1 -P "$RUNTIME_PORT" >"$work/watch.log" 2>&1 &
watch_pid=$!
for _ in $(seq 1 300); do
  if grep -q listening "$work/mock.log" && grep -q "Runtime server" "$work/watch.log" \
    && curl -s -o /dev/null "http://127.0.0.1:$MOTO_PORT"; then
    break
  fi
  sleep 0.2
done

.venv/bin/python bench/cargo_lambda.py "http://127.0.0.1:$MOTO_PORT" "http://127.0.0.1:$PORT" \
  "$RUNTIME_PORT" "$TARGET/debug/affinity-sync-lambda" "$TARGET/debug/affinity-sync" \
  bench/results/cargo_lambda.md
