#!/usr/bin/env bash
# Rate-limit pacing benchmark (issue 6): sync a data set that needs several minutes of
# Affinity's per-minute budget against the test double enforcing it, and report how much of
# the budget the sync used and how many requests were refused with 429.
#
#   bench/rate_limited.sh                 # defaults below
#   CLOCK_SCALE=1 PERSONS=60000 bench/rate_limited.sh
#
# The double's clock can run faster than real time (CLOCK_SCALE=2: a rate-limit minute lasts
# 30 real seconds); its reset headers stay in real seconds, as a client must wait them.
# Prints one Markdown table row and appends it to bench/results/rate_limited.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${PROFILE:-debug}
CLOCK_SCALE=${CLOCK_SCALE:-2}
PER_MINUTE=${PER_MINUTE:-900}
PERSONS=${PERSONS:-60000}
COMPANIES=${COMPANIES:-30000}
NOTES=${NOTES:-30000}
LISTS=${LISTS:-8}
ENTRIES_PER_LIST=${ENTRIES_PER_LIST:-10000}
CONCURRENCY=${CONCURRENCY:-4}
PORT=${PORT:-18181}

# BIN=path/to/affinity-sync skips the build.
if [ -z "${BIN:-}" ]; then
  if [ "$PROFILE" = release ]; then cargo build --release --locked -q; else cargo build --workspace --all-targets --locked -q; fi  # the test build: DuckDB compiled once
  BIN="${CARGO_TARGET_DIR:-target}/$PROFILE/affinity-sync"
fi

work=$(mktemp -d)
trap 'kill $mock_pid 2>/dev/null || true; rm -rf "$work"' EXIT
"$BIN" mock --port "$PORT" --seed 7 --persons "$PERSONS" --companies "$COMPANIES" --notes "$NOTES" \
  --lists "$LISTS" --entries-per-list "$ENTRIES_PER_LIST" --enforce-rate-limit --per-minute "$PER_MINUTE" --clock-scale "$CLOCK_SCALE" >"$work/mock.log" &
mock_pid=$!
for _ in $(seq 1 6000); do  # generating a large data set takes a while
  grep -q "listening" "$work/mock.log" 2>/dev/null && break
  sleep 0.1
done
base="http://127.0.0.1:$PORT"
export AFFINITY_API_KEY=test-key

# Seconds left in the double's current rate-limit window: windows are counted from there.
first_reset=$(curl -s -u ":$AFFINITY_API_KEY" "$base/rate-limit" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["rate"]["api_key_per_minute"]["reset"])')
start=$(date +%s.%N)
"$BIN" sync --base-url "$base" --out "$work/out" --quiet --concurrency "$CONCURRENCY" >"$work/sync.log"
end=$(date +%s.%N)
stats=$(curl -s "$base/__stats")

python3 - "$start" "$end" "$CLOCK_SCALE" "$PER_MINUTE" "$stats" "$PROFILE" "$CONCURRENCY" "$first_reset" <<'PY'
import json, math, sys, os, datetime
start, end, scale, per_minute = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
stats = json.loads(sys.argv[5]); profile = sys.argv[6]; conc = sys.argv[7]; first = float(sys.argv[8])
wall = end - start
requests = stats["requests"]
limited = stats.get("rate_limited", 0)
window = 60.0 / scale                            # real seconds of one rate-limit minute
# The windows the sync touched (the first one partly spent when it began): their budget is
# what the sync could have used.
windows = 1 + max(0, math.ceil((wall - first) / window))
budget = windows * per_minute
served = requests - limited
least = (served / per_minute) * 60.0 / scale     # the theoretical minimum wall time
row = (f"| {datetime.date.today()} | {profile} | {scale:g} | {conc} | {requests} | {limited} "
       f"({100.0 * limited / max(requests, 1):.2f}%) | {wall:.1f} s | {least:.1f} s | "
       f"{served} of {budget} ({windows} windows): {100.0 * served / budget:.1f}% |")
header = ("| date | build | clock scale | concurrency | requests | 429s | wall | minimum wall "
          "(requests / rate) | budget used (requests served / budget of the windows touched) |\n|---|---|---|---|---|---|---|---|---|")
print(header); print(row)
path = "bench/results/rate_limited.md"
os.makedirs(os.path.dirname(path), exist_ok=True)
new = not os.path.exists(path)
with open(path, "a") as f:
    if new:
        f.write("# Rate-limited sync (bench/rate_limited.sh)\n\n"
                "A full default sync against the test double enforcing the per-minute limit. "
                "Goals: 429s at most 1% of requests, at least 90% of the budget used.\n\n"
                + header + "\n")
    f.write(row + "\n")
PY
