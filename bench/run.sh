#!/usr/bin/env bash
# The benchmarks, one command (issue 10): builds in release, measures, and writes
# bench/RESULTS.md with the machine, the versions and the figures.
#
#   bench/run.sh                      # the full data set below, 3 runs of ours, 1 of each dlt run
#   RUNS=5 DLT_RUNS=3 bench/run.sh
#   PERSONS=20000 COMPANIES=10000 NOTES=10000 ENTRIES_PER_LIST=1000 bench/run.sh   # quicker
#
# 1. Core throughput: criterion (`cargo bench -p affinity-sync-core --bench page_to_batch`).
# 2. End-to-end sync with the CLI against the double, unthrottled: wall, records/s, requests
#    made vs the minimum, peak RSS (median of RUNS).
# 3. The same endpoints with dlt's rest_api source (bench/dlt_affinity.py, in a venv this
#    script makes), to Parquet files and to DuckDB: wall, peak RSS, and the ratios.
# 4. and 5. Per-invocation (Lambda, component) and rate-limited figures come from their own
#    scripts (bench/lambda.sh, bench/component.sh, bench/rate_limited.sh: each takes minutes
#    and needs its own tools); their latest results are quoted from bench/results/. ALL=1
#    runs them first.
#
# Benchmarks are not tests: nothing fails on a number.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DLT_RUNS=${DLT_RUNS:-1}
PERSONS=${PERSONS:-100000}
COMPANIES=${COMPANIES:-50000}
NOTES=${NOTES:-50000}
LISTS=${LISTS:-6}
ENTRIES_PER_LIST=${ENTRIES_PER_LIST:-7000}  # 3 lists of 7,000 + opportunities: over 20,000 entries
CONCURRENCY=${CONCURRENCY:-4}
PORT=${PORT:-18190}
STREAMS=persons,companies,opportunities,lists,list_entries,notes,reminders,entity_files
TARGET=${CARGO_TARGET_DIR:-target}
VENV=${BENCH_VENV:-$HOME/.cache/affinity-sync/bench-venv}

say() { printf '\n==> %s\n' "$*" >&2; }

if [ "${ALL:-0}" = 1 ]; then
  say "per-invocation and rate-limited benchmarks (ALL=1)"
  bench/lambda.sh
  bench/component.sh
  PROFILE=release bench/rate_limited.sh
fi

say "release build of the CLI (without DuckDB: the sync is what is measured)"
cargo build --release --locked --no-default-features -p affinity-sync --bin affinity-sync
BIN="$TARGET/release/affinity-sync"

say "dlt in $VENV"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q "dlt[duckdb,parquet,filesystem]==1.31.0"

work=$(mktemp -d)
trap 'kill "${mock_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

say "1. core throughput (criterion)"
cargo bench --locked -p affinity-sync-core --bench page_to_batch -- --warm-up-time 2 --measurement-time 5 \
  | tee "$work/criterion.txt" | grep -E "^page to batch|thrpt" >&2

say "the double: $PERSONS persons, $COMPANIES companies, $NOTES notes, $LISTS lists of up to $ENTRIES_PER_LIST entries"
"$BIN" mock --port "$PORT" --seed 7 --persons "$PERSONS" --companies "$COMPANIES" --notes "$NOTES" \
  --lists "$LISTS" --entries-per-list "$ENTRIES_PER_LIST" --per-minute 1000000000 >"$work/mock.log" 2>&1 &
mock_pid=$!
for _ in $(seq 1 6000); do
  grep -q "listening" "$work/mock.log" 2>/dev/null && break
  sleep 0.1
done
grep -q "listening" "$work/mock.log" || { cat "$work/mock.log" >&2; exit 1; }
base="http://127.0.0.1:$PORT"
export AFFINITY_API_KEY=test-key
requests() { curl -s "$base/__stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])'; }

# CPU seconds the double has used so far (user + system): how much of a run it took.
double_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$mock_pid/stat"; }

# One measured run: `<name> <command...>`; appends "name wall_s peak_rss_kb requests
# double_cpu_s status" to runs.txt. A run that fails (dlt killed for memory, say) is recorded
# as failed with what it used until then; only our own sync must succeed.
measure() {
  local name=$1; shift
  local before cpu_before status=ok
  before=$(requests); cpu_before=$(double_cpu)
  /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" >"$work/$name.out" 2>"$work/$name.err" || status=failed
  if [ "$status" = failed ]; then
    grep -q "signal 9" "$work/time.txt" && status=killed
    tail -5 "$work/$name.err" >&2
    case $name in ours-*) exit 1 ;; esac
  fi
  local cpu; cpu=$(awk -v a="$(double_cpu)" -v b="$cpu_before" 'BEGIN { printf "%.1f", a - b }')
  echo "$name $(tail -1 "$work/time.txt") $(( $(requests) - before )) $cpu $status" >>"$work/runs.txt"
}

say "2. affinity-sync sync, $RUNS runs"
for i in $(seq 1 "$RUNS"); do
  measure "ours-$i" "$BIN" sync --base-url "$base" --out "$work/ours-$i" --streams "$STREAMS" \
    --quiet --concurrency "$CONCURRENCY" --ignore-quota
  tail -1 "$work/runs.txt" >&2
done

say "3. dlt rest_api, $DLT_RUNS run(s) per destination"
for to in parquet duckdb; do
  for i in $(seq 1 "$DLT_RUNS"); do
    measure "dlt-$to-$i" "$VENV/bin/python" bench/dlt_affinity.py --base-url "$base" --to "$to" --out "$work/dlt-$to-$i"
    tail -1 "$work/runs.txt" >&2
  done
done

say "writing bench/RESULTS.md"
python3 bench/results.py --work "$work" --runs "$RUNS" --dlt-runs "$DLT_RUNS" \
  --sizes "persons=$PERSONS companies=$COMPANIES notes=$NOTES lists=$LISTS entries_per_list=$ENTRIES_PER_LIST" \
  --concurrency "$CONCURRENCY" --dlt-python "$VENV/bin/python" >bench/RESULTS.md
cat bench/RESULTS.md
