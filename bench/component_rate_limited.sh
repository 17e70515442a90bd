#!/usr/bin/env bash
# The WebAssembly component under Affinity's rate limit (issue 28): the same sync as
# bench/lambda_rate_limited.sh (at least 3,000 pages, the double enforcing 900 requests a
# minute and a concurrency cap, moto's SQS in real time), carried by `affinity-sync worker
# --concurrency N` to the component (`scripts/component.sh`) served by affinity-sync-wasm-host
# (wasmtime, release; a fresh instance per request, as Spin does).
#
#   bench/component_rate_limited.sh                  # concurrency 2, 4 and 8
#   CONCURRENCY="4" bench/component_rate_limited.sh
#
# Appends a row per run to bench/results/component_rate_limited.md (and the raw figures to
# bench/results/component_rate_limited.jsonl).
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
PORT=${PORT:-18296}
MOTO_PORT=${MOTO_PORT:-18297}
HOST_PORT=${HOST_PORT:-18298}
TARGET=${CARGO_TARGET_DIR:-target}
TOKEN=bench-trigger-token-0123456789

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet -r scripts/requirements-test.txt
# COMPONENT=… and HOST=… (paths) skip their builds.
component=${COMPONENT:-$TARGET/wasm32-wasip2/wasm/affinity-sync.wasm}
host=${HOST:-$TARGET/release/affinity-sync-wasm-host}
[ -n "${COMPONENT:-}" ] || scripts/component.sh
[ -n "${HOST:-}" ] || cargo build --locked -q --release -p affinity-sync-wasm-host
BIN=${BIN:-$TARGET/debug/affinity-sync}
[ -x "$BIN" ] || cargo build --workspace --all-targets --locked -q

mkdir -p bench/results
[ -f bench/results/component_rate_limited.md ] || cat > bench/results/component_rate_limited.md <<'MD'
# The component under the rate limit

`bench/component_rate_limited.sh`: `affinity-sync worker --concurrency N` carries the jobs
from moto's SQS (real time) to the component (`--profile wasm`) under affinity-sync-wasm-host
(wasmtime, release); the test double enforces the per-minute limit and a concurrency cap.
Floor: requests / rate. Minimum requests: one per page. Job time: the sum of every job's
duration as the host measured it (request arrival to response head).

| date | commit | concurrency | pages | records | requests (/ minimum) | 429s | retries | wall | floor | wall / floor | SQS requests | jobs | job time |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
MD

for n in $CONCURRENCY; do
  work=$(mktemp -d)
  "$BIN" mock --port "$PORT" --seed 7 --api-key bench-key --persons "$PERSONS" --companies "$COMPANIES" \
    --notes "$NOTES" --lists "$LISTS" --entries-per-list "$ENTRIES_PER_LIST" --enforce-rate-limit \
    --per-minute "$PER_MINUTE" --max-concurrent "$MAX_CONCURRENT" >"$work/mock.log" &
  mock_pid=$!
  .venv/bin/python -m moto.server -H 127.0.0.1 -p "$MOTO_PORT" >"$work/moto.log" 2>&1 &
  moto_pid=$!
  host_pid=
  trap 'kill $mock_pid $moto_pid $host_pid 2>/dev/null || true; rm -rf "$work"' EXIT
  for _ in $(seq 1 6000); do
    grep -q "listening" "$work/mock.log" 2>/dev/null && curl -s "http://127.0.0.1:$MOTO_PORT" >/dev/null && break
    sleep 0.1
  done
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
  moto="http://127.0.0.1:$MOTO_PORT"
  read -r queue dead < <(.venv/bin/python - "$moto" <<'PY'
import sys, boto3
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1")
boto3.client("s3", **kw).create_bucket(Bucket="affinity-bench")
sqs = boto3.client("sqs", **kw)
q = lambda n: sqs.create_queue(QueueName=n, Attributes={"VisibilityTimeout": "900"})["QueueUrl"]
print(q("affinity-jobs"), q("affinity-dead"))
PY
)
  AFFINITY_SYNC_BUCKET=affinity-bench AFFINITY_SYNC_PREFIX=affinity AFFINITY_SYNC_QUEUE_URL="$queue" \
  AFFINITY_SYNC_DEAD_LETTER_URL="$dead" AFFINITY_BASE_URL="http://127.0.0.1:$PORT" \
  AFFINITY_API_KEY=bench-key AFFINITY_SYNC_JOB_SECRET=bench-job-secret-0123456789 \
  AFFINITY_SYNC_TRIGGER_TOKEN="$TOKEN" AWS_ENDPOINT_URL_S3="$moto" AFFINITY_SYNC_LOG=warn \
    "$host" serve --component "$component" --listen "127.0.0.1:$HOST_PORT" >/dev/null 2>"$work/host.log" &
  host_pid=$!
  for _ in $(seq 1 600); do grep -q "serving" "$work/host.log" && break; sleep 0.1; done

  began=$(date +%s.%N)
  curl -sf -X POST -H "Authorization: Bearer $TOKEN" -d '{"format": "parquet"}' \
    "http://127.0.0.1:$HOST_PORT/start" >"$work/start.json"
  AWS_ENDPOINT_URL_SQS="$moto" AFFINITY_SYNC_TRIGGER_TOKEN="$TOKEN" \
    "$BIN" worker --queue-url "$queue" --invoke "http://127.0.0.1:$HOST_PORT/jobs" --until-empty \
    --concurrency "$n" >"$work/worker.log"
  ended=$(date +%s.%N)
  sleep 0.5 # the host's log is written every 200 ms

  result=$(.venv/bin/python - "$work" "$moto" "$began" "$ended" "$n" "http://127.0.0.1:$PORT" <<'PY'
import json, sys, urllib.request, boto3
work, moto, began, ended, n, base = sys.argv[1:7]
sync_id = json.load(open(f"{work}/start.json"))["sync_id"]
jobs = [float(l.split()[3]) for l in open(f"{work}/host.log") if l.startswith("POST /jobs ")]
s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
key = f"affinity/_manifests/sync_id={sync_id}/sync.json"
manifest = json.loads(s3.get_object(Bucket="affinity-bench", Key=key)["Body"].read())
stats = json.load(urllib.request.urlopen(f"{base}/__stats"))
print(json.dumps({
    "sync_id": sync_id, "concurrency": int(n), "wall_s": round(float(ended) - float(began), 1),
    "requests": stats["requests"], "rate_limited": stats.get("rate_limited", 0),
    "pages": sum(s["pages"] for s in manifest["streams"]),
    "records": sum(s["records"] for s in manifest["streams"]),
    "retries": sum(s.get("retries", 0) for s in manifest["streams"]),
    "jobs": len(jobs), "job_seconds": round(sum(jobs) / 1000, 1),
}))
PY
)
  result=$(.venv/bin/python bench/rate_limited_report.py aws "$result" "$work/moto.log")
  echo "$result"
  echo "$result" >> bench/results/component_rate_limited.jsonl
  .venv/bin/python bench/rate_limited_report.py row "$result" "$PER_MINUTE" "$(git rev-parse --short HEAD)" \
    >> bench/results/component_rate_limited.md
  tail -1 bench/results/component_rate_limited.md
  kill $mock_pid $moto_pid $host_pid 2>/dev/null || true
  wait $mock_pid $moto_pid $host_pid 2>/dev/null || true
  rm -rf "$work"
done
.venv/bin/python bench/cost.py bench/results/lambda_rate_limited.jsonl bench/results/component_rate_limited.jsonl > bench/results/cost.md
