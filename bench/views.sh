#!/usr/bin/env bash
# What `ddl --views` costs at query time (issue 27): on a store from the test double (a full
# sync and webhook changes), the time DuckDB takes to answer a query on
# each view, against loading the same state into tables once (the statements `ddl --dialect
# duckdb --from` prints, the SQL `load duckdb` runs). Release DuckDB (the test venv's
# Python package), so the numbers are DuckDB's, not a debug build's.
#
#   bench/views.sh                          # defaults below
#   PERSONS=50000 CHANGES=2000 bench/views.sh
#
# Writes bench/results/views.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PERSONS=${PERSONS:-20000}
COMPANIES=${COMPANIES:-10000}
NOTES=${NOTES:-5000}
LISTS=${LISTS:-6}
ENTRIES_PER_LIST=${ENTRIES_PER_LIST:-3000}
CHANGES=${CHANGES:-500}
PORT=${PORT:-18291}
PY=${AFFINITY_SYNC_PYTHON:-.venv/bin/python}

# BIN=path/to/affinity-sync skips the build.
if [ -z "${BIN:-}" ]; then
  cargo build --workspace --all-targets --locked -q  # the test build: DuckDB compiled once
  BIN="${CARGO_TARGET_DIR:-target}/debug/affinity-sync"
fi

work=$(mktemp -d)
trap 'kill $mock_pid $serve_pid 2>/dev/null || true; rm -rf "$work"' EXIT
serve_pid=
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
# A full sync: the per-sync load `ddl --from` prints loads one sync's batches, so the two
# agree on a full sync plus webhook changes (the views also compose incremental syncs).
"$BIN" sync --base-url "$base" --out "$out" --quiet

# Webhook changes through `serve`.
secret=bench-webhook-secret-0123456789
printf %s "$secret" >"$work/secret"
"$BIN" serve --base-url "$base" --out "$out" --listen 127.0.0.1:$((PORT + 1)) \
  --webhook-secret-file "$work/secret" >"$work/serve.out" 2>"$work/serve.log" &
serve_pid=$!
sleep 1
curl -sf -X POST "$base/__changes" -H 'content-type: application/json' \
  -d "{\"changes\":{\"seed\":11,\"changes\":$CHANGES},\"deliver_to\":\"http://127.0.0.1:$((PORT + 1))/webhook?token=$secret\",\"delivery\":{\"seed\":5}}" >/dev/null
for _ in $(seq 1 6000); do
  health=$(curl -sf "http://127.0.0.1:$((PORT + 1))/health" || true)
  grep -q '"queued":0' <<<"$health" && grep -q '"running":0' <<<"$health" && break
  sleep 0.2
done
kill $serve_pid

"$BIN" ddl --dialect duckdb --views --location "$out" >"$work/views.sql"
"$BIN" ddl --dialect duckdb --from "$out" >"$work/load.sql"
files=$(find "$out" -type f | wc -l)
bytes=$(du -sb "$out" | cut -f1)

"$PY" - "$work" "$files" "$bytes" "$CHANGES" <<'EOF'
import sys, time, duckdb
work, files, nbytes, changes = sys.argv[1:5]
views = duckdb.connect()
t = time.perf_counter(); views.execute(open(f"{work}/views.sql").read()); created = time.perf_counter() - t
loaded = duckdb.connect()
t = time.perf_counter(); loaded.execute(open(f"{work}/load.sql").read()); load = time.perf_counter() - t
tables = [r[0] for r in loaded.execute(
    "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
    "AND NOT starts_with(table_name, '_') ORDER BY table_name").fetchall()]
rows = []
total = 0.0
for name in tables:
    n = loaded.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
    t = time.perf_counter(); v = views.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
    dt = time.perf_counter() - t
    total += dt
    t = time.perf_counter(); loaded.execute(f'SELECT count(*) FROM "{name}"').fetchone(); lt = time.perf_counter() - t
    assert v == n, (name, v, n)
    rows.append(f"| {name} | {n:,} | {dt * 1000:,.0f} | {lt * 1000:,.1f} |")
with open("bench/results/views.md", "w") as f:
    f.write(f"""# Views over the bucket: what a query costs (bench/views.sh)

Store: a full sync and {changes} webhook changes of the test double,
{int(files):,} files, {int(nbytes) / 1e6:,.1f} MB, on this machine's disk. DuckDB {duckdb.__version__}
(release), one connection, warm file cache.

- Creating the views (`ddl --dialect duckdb --views`, run once): {created:.2f} s.
- Loading the same state into tables (`ddl --dialect duckdb --from`, the SQL `load duckdb`
  runs, per sync): {load:.2f} s.
- Reading every view once (`SELECT count(*)`): {total:.2f} s in all; each view reads the
  manifests, its table's batches and the change records at every query:

| table | rows | view query, ms | loaded table, ms |
| --- | ---: | ---: | ---: |
""" + "\n".join(rows) + "\n")
print(open("bench/results/views.md").read())
EOF
