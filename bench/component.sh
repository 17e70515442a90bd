#!/usr/bin/env bash
# WebAssembly component benchmark (issue 5): the component's size, compile and precompiled-load
# time, instantiate + call time, and the time of each `POST /jobs` while it syncs a data set
# served by affinity-sync-wasm-host (wasmtime, release) and fed by `affinity-sync worker`, with
# moto as S3/SQS and the test double as Affinity, all on this machine.
#
#   bench/component.sh
#   PERSONS=5000 FORMAT=ndjson bench/component.sh
#
# Appends a Markdown table row to bench/results/component.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PERSONS=${PERSONS:-2000}
COMPANIES=${COMPANIES:-1000}
NOTES=${NOTES:-1000}
LISTS=${LISTS:-3}
ENTRIES_PER_LIST=${ENTRIES_PER_LIST:-500}
FORMAT=${FORMAT:-parquet}
PORT=${PORT:-18292}
MOTO_PORT=${MOTO_PORT:-18293}
HOST_PORT=${HOST_PORT:-18294}
TARGET=${CARGO_TARGET_DIR:-target}
TOKEN=bench-trigger-token-0123456789

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet -r scripts/requirements-test.txt

scripts/component.sh
cargo build --locked --release -p affinity-sync-wasm-host
component="$TARGET/wasm32-wasip2/wasm/affinity-sync.wasm"
host="$TARGET/release/affinity-sync-wasm-host"
BIN=${BIN:-$TARGET/debug/affinity-sync}
[ -x "$BIN" ] || cargo build --workspace --all-targets --locked -q

measured=$("$host" measure --component "$component")
echo "$measured"
m() { awk -v k="$1" '$1 == k { print $2 }' <<<"$measured"; }

work=$(mktemp -d)
trap 'kill $mock_pid $moto_pid ${host_pid:-} 2>/dev/null || true; rm -rf "$work"' EXIT
"$BIN" mock --port "$PORT" --seed 7 --api-key bench-key --persons "$PERSONS" --companies "$COMPANIES" \
  --notes "$NOTES" --lists "$LISTS" --entries-per-list "$ENTRIES_PER_LIST" >"$work/mock.log" &
mock_pid=$!
.venv/bin/python -m moto.server -H 127.0.0.1 -p "$MOTO_PORT" >"$work/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 1 3000); do
  grep -q "listening" "$work/mock.log" 2>/dev/null && curl -s "http://127.0.0.1:$MOTO_PORT" >/dev/null && break
  sleep 0.1
done
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
moto="http://127.0.0.1:$MOTO_PORT"
read -r queue dead < <(.venv/bin/python - "$moto" <<'PY'
import sys, boto3
url = sys.argv[1]
kw = dict(endpoint_url=url, region_name="us-east-1")
boto3.client("s3", **kw).create_bucket(Bucket="affinity-bench")
sqs = boto3.client("sqs", **kw)
q = lambda n: sqs.create_queue(QueueName=n, Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
print(q("affinity-jobs"), q("affinity-dead"))
PY
)

AFFINITY_SYNC_BUCKET=affinity-bench AFFINITY_SYNC_PREFIX=affinity AFFINITY_SYNC_QUEUE_URL="$queue" \
AFFINITY_SYNC_DEAD_LETTER_URL="$dead" AFFINITY_BASE_URL="http://127.0.0.1:$PORT" \
AFFINITY_API_KEY=bench-key AFFINITY_SYNC_JOB_SECRET=bench-job-secret-0123456789 \
AFFINITY_SYNC_TRIGGER_TOKEN="$TOKEN" AWS_ENDPOINT_URL_S3="$moto" AFFINITY_SYNC_LOG=warn \
  "$host" serve --component "$component" --listen "127.0.0.1:$HOST_PORT" 2>"$work/host.log" &
host_pid=$!
for _ in $(seq 1 600); do grep -q "serving" "$work/host.log" && break; sleep 0.1; done

began=$(date +%s.%N)
curl -sf -X POST -H "Authorization: Bearer $TOKEN" -d "{\"format\": \"$FORMAT\"}" \
  "http://127.0.0.1:$HOST_PORT/start" >"$work/start.json"
AWS_ENDPOINT_URL_SQS="$moto" AFFINITY_SYNC_TRIGGER_TOKEN="$TOKEN" \
  "$BIN" worker --queue-url "$queue" --invoke "http://127.0.0.1:$HOST_PORT/jobs" --until-empty
ended=$(date +%s.%N)
sleep 0.5 # the host's log is written every 200 ms

result=$(.venv/bin/python - "$work/host.log" "$work/start.json" "$moto" "$began" "$ended" <<'PY'
import json, sys, statistics, boto3
log, start, moto, began, ended = sys.argv[1:6]
sync_id = json.load(open(start))["sync_id"]
jobs = [float(l.split()[3]) for l in open(log) if l.startswith("POST /jobs 200")]
s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
key = f"affinity/_manifests/sync_id={sync_id}/sync.json"
manifest = json.loads(s3.get_object(Bucket="affinity-bench", Key=key)["Body"].read())
records = sum(s["records"] for s in manifest["streams"])
jobs.sort()
print(json.dumps({
    "jobs": len(jobs), "records": records, "wall_s": round(float(ended) - float(began), 1),
    "job_ms_median": round(statistics.median(jobs), 1),
    "job_ms_p95": round(jobs[int(len(jobs) * 0.95)], 1), "job_ms_max": round(jobs[-1], 1),
}))
PY
)
echo "$result"
mkdir -p bench/results
[ -f bench/results/component.md ] || cat > bench/results/component.md <<'MD'
# WebAssembly component: size, start-up, time per job

`bench/component.sh`: the component as shipped (`scripts/component.sh`; `--profile wasm` before 2026-12-06), run by
`affinity-sync-wasm-host` (wasmtime 48, release) with a fresh instance per request as Spin
does; `affinity-sync worker` feeds it from the queue; moto (S3, SQS) and the test double on
loopback, all on the same 2-core machine, so a job's time includes theirs. Instantiate + call
is a request answered without I/O, from a precompiled component. Job times are medians over
the sync, from request arrival to response head.

| date | commit | data (persons/companies/notes/lists×entries) | format | component | compile | precompiled load | instantiate + call | jobs | records | job median / p95 / max | sync wall |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
MD
.venv/bin/python - "$result" "$(m component_bytes)" "$(m compile_ms)" "$(m load_precompiled_ms)" "$(m instantiate_and_call_ms)" \
  "$PERSONS/$COMPANIES/$NOTES/${LISTS}×$ENTRIES_PER_LIST" "$FORMAT" "$(git rev-parse --short HEAD)" >> bench/results/component.md <<'PY'
import json, sys, datetime
r = json.loads(sys.argv[1]); size, compile_ms, load_ms, inst_ms, data, fmt, commit = sys.argv[2:9]
print(f"| {datetime.date.today()} | {commit} | {data} | {fmt} | {int(size) / 1e6:.2f} MB | {compile_ms} ms | {load_ms} ms | {inst_ms} ms | "
      f"{r['jobs']} | {r['records']} | {r['job_ms_median']} / {r['job_ms_p95']} / {r['job_ms_max']} ms | {r['wall_s']} s |")
PY
tail -1 bench/results/component.md
