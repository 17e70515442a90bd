#!/usr/bin/env bash
# The Lambda home under Affinity's rate limit (issue 28): a sync of at least 3,000 pages
# through the release build of the function, with CONCURRENCY invocations at once (Lambda's
# SQS event source with MaximumConcurrency), moto's SQS carrying the jobs in real time, and
# the test double enforcing 900 requests a minute and a concurrency cap (bench/lambda_rate_limited.py).
#
#   bench/lambda_rate_limited.sh                  # concurrency 2, 4 and 8
#   CONCURRENCY="4" bench/lambda_rate_limited.sh
#
# Reports wall time against the floor (requests / rate), 429s, requests against the minimum
# (one per page) and SQS messages, and appends a row per run to bench/results/lambda_rate_limited.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PER_MINUTE=${PER_MINUTE:-900}
MAX_CONCURRENT=${MAX_CONCURRENT:-8}
PERSONS=${PERSONS:-36000}
COMPANIES=${COMPANIES:-18000}
NOTES=${NOTES:-18000}
LISTS=${LISTS:-8}
ENTRIES_PER_LIST=${ENTRIES_PER_LIST:-6000}
CONCURRENCY=${CONCURRENCY:-2 4 8}
PORT=${PORT:-18284}
MOTO_PORT=${MOTO_PORT:-18285}
TARGET=${CARGO_TARGET_DIR:-target}

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet -r scripts/requirements-test.txt
# BOOTSTRAP=path/to/affinity-sync-lambda skips the build.
bootstrap=${BOOTSTRAP:-$TARGET/release/affinity-sync-lambda}
[ -n "${BOOTSTRAP:-}" ] || cargo build --release --locked -q -p affinity-sync-lambda
BIN=${BIN:-$TARGET/debug/affinity-sync}
[ -x "$BIN" ] || cargo build --workspace --all-targets --locked -q

mkdir -p bench/results
[ -f bench/results/lambda_rate_limited.md ] || cat > bench/results/lambda_rate_limited.md <<'MD'
# The Lambda home under the rate limit

`bench/lambda_rate_limited.sh`: the release build of the function, N invocations at once
(Lambda's SQS event source with `MaximumConcurrency` N), moto's SQS in real time, the test
double enforcing the per-minute limit and a concurrency cap. Floor: requests / rate. Minimum
requests: one per page. Invocation time: the sum of every invocation's duration (what
Lambda bills, at the function's memory size).

| date | commit | concurrency | pages | records | requests (/ minimum) | 429s | retries | wall | floor | wall / floor | SQS messages | invocations | invocation time |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
MD

for n in $CONCURRENCY; do
  work=$(mktemp -d)
  "$BIN" mock --port "$PORT" --seed 7 --persons "$PERSONS" --companies "$COMPANIES" --notes "$NOTES" \
    --lists "$LISTS" --entries-per-list "$ENTRIES_PER_LIST" --enforce-rate-limit \
    --per-minute "$PER_MINUTE" --max-concurrent "$MAX_CONCURRENT" >"$work/mock.log" &
  mock_pid=$!
  .venv/bin/python -m moto.server -H 127.0.0.1 -p "$MOTO_PORT" >"$work/moto.log" 2>&1 &
  moto_pid=$!
  trap 'kill $mock_pid $moto_pid 2>/dev/null || true; rm -rf "$work"' EXIT
  for _ in $(seq 1 6000); do
    grep -q "listening" "$work/mock.log" 2>/dev/null && curl -s "http://127.0.0.1:$MOTO_PORT" >/dev/null && break
    sleep 0.1
  done
  result=$(.venv/bin/python bench/lambda_rate_limited.py "$bootstrap" "http://127.0.0.1:$PORT" "http://127.0.0.1:$MOTO_PORT" "$n")
  result=$(.venv/bin/python bench/rate_limited_report.py aws "$result" "$work/moto.log")
  echo "$result"
  echo "$result" >> bench/results/lambda_rate_limited.jsonl
  .venv/bin/python bench/rate_limited_report.py row "$result" "$PER_MINUTE" "$(git rev-parse --short HEAD)" \
    >> bench/results/lambda_rate_limited.md
  tail -1 bench/results/lambda_rate_limited.md
  kill $mock_pid $moto_pid 2>/dev/null || true
  wait $mock_pid $moto_pid 2>/dev/null || true
  rm -rf "$work"
done
.venv/bin/python bench/cost.py bench/results/lambda_rate_limited.jsonl bench/results/component_rate_limited.jsonl > bench/results/cost.md
cat bench/results/cost.md
