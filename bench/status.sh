#!/usr/bin/env bash
# What `affinity-sync status` costs the store (issue 25): the list and get requests it makes
# (its own count, `store_requests` in --json) and its wall time, for a complete sync, a sync
# stopped half way (a crash) and the same store with several complete syncs, against a data
# set of N pages from the test double.
#
#   bench/status.sh                       # defaults below
#   PERSONS=50000 NOTES=20000 bench/status.sh
#
# Writes bench/results/status.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PERSONS=${PERSONS:-20000}
COMPANIES=${COMPANIES:-10000}
NOTES=${NOTES:-5000}
LISTS=${LISTS:-6}
ENTRIES_PER_LIST=${ENTRIES_PER_LIST:-3000}
PORT=${PORT:-18191}

# BIN=path/to/affinity-sync skips the build.
if [ -z "${BIN:-}" ]; then
  cargo build --workspace --all-targets --locked -q  # the test build: DuckDB compiled once
  BIN="${CARGO_TARGET_DIR:-target}/debug/affinity-sync"
fi

work=$(mktemp -d)
trap 'kill $mock_pid 2>/dev/null || true; rm -rf "$work"' EXIT
"$BIN" mock --port "$PORT" --seed 9 --persons "$PERSONS" --companies "$COMPANIES" --notes "$NOTES" \
  --lists "$LISTS" --entries-per-list "$ENTRIES_PER_LIST" >"$work/mock.log" &
mock_pid=$!
for _ in $(seq 1 6000); do
  grep -q "listening" "$work/mock.log" 2>/dev/null && break
  sleep 0.1
done
export AFFINITY_API_KEY=test-key
out="$work/out"
base="http://127.0.0.1:$PORT"

# One status call: "lists gets seconds" of the report.
measure() {
  local start end json
  start=$(date +%s.%N)
  json=$("$BIN" status --out "$out" --json "$@" || true)
  end=$(date +%s.%N)
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); s=r["store_requests"]; print(s["lists"], s["gets"], "%.2f" % (float(sys.argv[3])-float(sys.argv[2])))' "$json" "$start" "$end"
}
pages() {  # pages done, pending, parked of the newest sync
  "$BIN" status --out "$out" --json | python3 -c 'import json,sys; p=json.load(sys.stdin)["syncs"][0]["pages"]; print(p["done"], p["pending"], p["parked"])' || true
}
chains() { find "$out/_manifests/sync_id=$1/chains" -type f 2>/dev/null | wc -l; }

"$BIN" sync --base-url "$base" --out "$out" --quiet >/dev/null
first=$(ls "$out/_manifests" | head -1 | sed 's/sync_id=//')
read -r done_pages _ _ < <(pages)
read -r l1 g1 t1 < <(measure)
read -r l1d g1d t1d < <(measure "$first")

# A sync that crashed half way: its journal and finished chains are what status reads.
set +e
"$BIN" sync --base-url "$base" --out "$out" --quiet --inject "crash-after-writes=$((done_pages / 2))" >/dev/null 2>&1
set -e
crashed=$(ls "$out/_jobs" | sed 's/sync_id=//')
read -r c_done c_pending c_parked < <(pages)
c_chains=$(chains "$crashed")
read -r l2 g2 t2 < <(measure)
read -r l2d g2d t2d < <(measure "$crashed")
"$BIN" resume --base-url "$base" --out "$out" --quiet >/dev/null
for _ in 1 2 3; do "$BIN" sync --base-url "$base" --out "$out" --quiet >/dev/null; done
read -r l3 g3 t3 < <(measure)

rev=$(git rev-parse --short HEAD)
{
  echo "# What \`affinity-sync status\` costs the store"
  echo
  echo "\`bench/status.sh\` at $rev on $(date -u +%Y-%m-%d) ($(nproc) cores, debug build, a local directory; on S3 every listing below is one request per 1,000 keys and every get one GET)."
  echo "Data set: $PERSONS persons, $COMPANIES companies, $NOTES notes, $LISTS lists of $ENTRIES_PER_LIST entries: a full sync of $done_pages pages."
  echo
  echo "| store | call | listings | gets | wall s |"
  echo "| --- | --- | ---: | ---: | ---: |"
  echo "| one complete sync ($done_pages pages) | \`status\` | $l1 | $g1 | $t1 |"
  echo "| | \`status <id>\` | $l1d | $g1d | $t1d |"
  echo "| + a sync stopped by a crash ($c_done pages done, $c_pending pending, $c_parked parked; $c_chains finished chains) | \`status\` | $l2 | $g2 | $t2 |"
  echo "| | \`status <id>\` of the stopped one | $l2d | $g2d | $t2d |"
  echo "| five complete syncs | \`status\` | $l3 | $g3 | $t3 |"
  echo
  echo "A complete sync costs one GET (its \`sync.json\`) however many pages it had. An unfinished one costs a listing of its journal, a listing and one GET per finished chain (\`chains/\`), one GET of \`run.json\` and one per parked page; pending pages cost nothing beyond the listing (their key names are counted). Two listings find the syncs and three count webhook changes."
} >bench/results/status.md
cat bench/results/status.md
