#!/usr/bin/env bash
# Lambda function benchmark (issue 4): deployment zip size, cold init of the bootstrap (process
# start to ready for its first event) and peak RSS while it syncs a data set one page per
# invocation, driven through the real Lambda Runtime API loop (bench/lambda_bench.py) with
# moto as S3/SQS/Secrets Manager and the Affinity test double as Affinity.
#
#   bench/lambda.sh                         # x86_64 release build of this machine
#   ARCH=arm64 bench/lambda.sh              # also cross-builds the arm64 zip (cargo-lambda + zig)
#   PERSONS=5000 FORMAT=ndjson bench/lambda.sh
#
# Appends a Markdown table row to bench/results/lambda.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PERSONS=${PERSONS:-2000}
COMPANIES=${COMPANIES:-1000}
NOTES=${NOTES:-1000}
LISTS=${LISTS:-3}
ENTRIES_PER_LIST=${ENTRIES_PER_LIST:-500}
FORMAT=${FORMAT:-parquet}
PORT=${PORT:-18282}
MOTO_PORT=${MOTO_PORT:-18283}
TARGET=${CARGO_TARGET_DIR:-target}

[ -x .venv/bin/python ] || { python3 -m venv .venv; }
.venv/bin/python -m pip install --quiet -r scripts/requirements-test.txt

cargo build --release --locked -p affinity-sync-lambda
bootstrap="$TARGET/release/affinity-sync-lambda"
# The deployment package: the binary named bootstrap, zipped (what `cargo lambda build
# --output-format zip` and `sam build` upload).
zip_x86=$(.venv/bin/python - "$bootstrap" <<'PY'
import sys, zipfile, tempfile, os
out = os.path.join(tempfile.mkdtemp(), "bootstrap.zip")
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    z.write(sys.argv[1], "bootstrap")
print(os.path.getsize(out))
PY
)
zip_arm="-"
if [ "${ARCH:-}" = arm64 ]; then
  .venv/bin/python -m pip install --quiet cargo-lambda==1.9.2
  rustup target add aarch64-unknown-linux-gnu >/dev/null
  PATH="$PWD/.venv/bin:$PATH" cargo lambda build --release --arm64 -p affinity-sync-lambda --output-format zip
  zip_arm=$(stat -c %s "$TARGET/lambda/affinity-sync-lambda/bootstrap.zip")
fi

BIN=${BIN:-$TARGET/debug/affinity-sync}
[ -x "$BIN" ] || cargo build --workspace --all-targets --locked -q
work=$(mktemp -d)
trap 'kill $mock_pid $moto_pid 2>/dev/null || true; rm -rf "$work"' EXIT
"$BIN" mock --port "$PORT" --seed 7 --persons "$PERSONS" --companies "$COMPANIES" --notes "$NOTES" \
  --lists "$LISTS" --entries-per-list "$ENTRIES_PER_LIST" >"$work/mock.log" &
mock_pid=$!
.venv/bin/python -m moto.server -H 127.0.0.1 -p "$MOTO_PORT" >"$work/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 1 3000); do
  grep -q "listening" "$work/mock.log" 2>/dev/null && curl -s "http://127.0.0.1:$MOTO_PORT" >/dev/null && break
  sleep 0.1
done

result=$(FORMAT="$FORMAT" .venv/bin/python bench/lambda_bench.py "$bootstrap" "http://127.0.0.1:$PORT" "http://127.0.0.1:$MOTO_PORT")
echo "$result"
mkdir -p bench/results
[ -f bench/results/lambda.md ] || cat > bench/results/lambda.md <<'MD'
# Lambda function: package size, cold init, memory

`bench/lambda.sh` (release build; the bootstrap driven through the Lambda Runtime API loop,
one page per invocation, moto for S3/SQS/Secrets Manager on loopback, the test double as
Affinity). Peak RSS is the process's VmHWM over the whole sync: an upper bound of the peak
of any one invocation. Invocation times include moto's and the double's time on the same
2-core machine.

| date | commit | data (persons/companies/notes/lists×entries) | format | zip x86_64 | zip arm64 | cold init | pages | invocation median / p95 / max | peak RSS |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
MD
.venv/bin/python - "$result" "$zip_x86" "$zip_arm" "$PERSONS/$COMPANIES/$NOTES/${LISTS}×$ENTRIES_PER_LIST" "$FORMAT" "$(git rev-parse --short HEAD)" >> bench/results/lambda.md <<'PY'
import json, sys, datetime
r = json.loads(sys.argv[1]); x86, arm, data, fmt, commit = sys.argv[2:7]
mb = lambda b: "-" if b == "-" else f"{int(b) / 1e6:.1f} MB"
print(f"| {datetime.date.today()} | {commit} | {data} | {fmt} | {mb(x86)} | {mb(arm)} | {r['init_ms']} ms | {r['pages']} | "
      f"{r['invocation_ms_median']} / {r['invocation_ms_p95']} / {r['invocation_ms_max']} ms | {r['peak_rss_mb']} MB |")
PY
tail -1 bench/results/lambda.md
