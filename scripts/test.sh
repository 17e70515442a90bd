#!/usr/bin/env bash
# The project's test command: what a newcomer types and what CI (.ci/run) runs.
# It installs what it needs itself, then checks formatting, lints and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }

# CI reuses one target dir between runs on the same machine (a fresh clone has none);
# a brand-new machine simply starts it empty.
if [ "${CI:-}" = "true" ] && [ -z "${CARGO_TARGET_DIR:-}" ]; then
  export CARGO_TARGET_DIR="${HOME}/.cache/affinity-sync/ci-target"
  mkdir -p "$CARGO_TARGET_DIR"
fi
if [ "${CI:-}" = "true" ]; then
  # CI builds each commit once, from a clone whose path (and so the names of the workspace's
  # artifacts) may change every run: incremental state and the test binaries of old clones
  # only grow the shared target dir, and once filled the disk (the linker died). Dependencies'
  # artifacts (DuckDB's above all) are kept.
  export CARGO_INCREMENTAL=0
  target="${CARGO_TARGET_DIR:-target}"
  rm -rf "$target/debug/incremental"
  if [ -d "$target/debug/deps" ]; then
    find "$target/debug/deps" -maxdepth 1 -type f ! -name '*.*' -mmin +720 -delete
  fi
fi

say "toolchain (rust-toolchain.toml)"
rustc --version
installed_targets=$(rustup target list --installed)
grep -qx wasm32-wasip2 <<<"$installed_targets" || rustup target add wasm32-wasip2
installed_components=$(rustup component list --installed)
for c in rustfmt clippy; do
  grep -q "^$c" <<<"$installed_components" || rustup component add "$c"
done

say "system tools"
need_apt=()
command -v curl >/dev/null || need_apt+=(curl)
# A real PostgreSQL for tests/postgres_load.rs (each test starts a throwaway cluster itself).
if [ -z "${AFFINITY_SYNC_PG_BIN:-}" ] && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  need_apt+=(postgresql)
fi
# A Java runtime for Apache Spark (tests/views.rs runs the Databricks views on pyspark).
command -v java >/dev/null || need_apt+=(default-jre-headless)
# A real browser and its WebDriver for tests/show.rs (the dashboard, driven by Selenium).
command -v chromium >/dev/null || need_apt+=(chromium)
command -v chromedriver >/dev/null || need_apt+=(chromium-driver)
# npm: binaryen's wasm-opt for scripts/component.sh (the component we ship), and Azurite.
command -v npm >/dev/null || need_apt+=(nodejs npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  else
    echo "missing: ${need_apt[*]} (install them with apt-get, or run this script as root)" >&2
    exit 1
  fi
fi
echo "curl: $(curl --version | head -1)"
echo "postgresql: $(ls -d ${AFFINITY_SYNC_PG_BIN:-/usr/lib/postgresql/*/bin} | tail -1)"
echo "java: $(java -version 2>&1 | head -1)"
echo "browser: $(chromium --version 2>/dev/null | head -1); $(chromedriver --version | head -1)"
echo "node: $(node --version), npm $(npm --version)"

say "Azurite (Azure Blob Storage emulator, npm) for tests/cloud_out.rs"
azurite_home="${XDG_CACHE_HOME:-$HOME/.cache}/affinity-sync/azurite"
if [ ! -x "$azurite_home/node_modules/.bin/azurite-blob" ]; then
  mkdir -p "$azurite_home"
  npm install --silent --no-audit --no-fund --prefix "$azurite_home" azurite@3.37.0
fi
export AFFINITY_SYNC_AZURITE="$azurite_home/node_modules/.bin/azurite-blob"
echo "azurite: $("$AFFINITY_SYNC_AZURITE" --version 2>/dev/null || echo installed)"

say "test venv (pyarrow, duckdb: independent Parquet readers; moto: local AWS; cfn-lint)"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
export AFFINITY_SYNC_PYTHON="$PWD/.venv/bin/python"
"$AFFINITY_SYNC_PYTHON" -c 'import pyarrow, duckdb; print("pyarrow", pyarrow.__version__, "duckdb", duckdb.__version__)'

say "cfn-lint infra/template.yaml (the AWS deployment)"
.venv/bin/cfn-lint infra/template.yaml && echo "no findings"

say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "the CLI without DuckDB (--no-default-features: what bench/run.sh builds)"
cargo clippy -p affinity-sync --bin affinity-sync --no-default-features --locked -- -D warnings

say "the core builds for wasm32-wasip2"
cargo build -p affinity-sync-core --locked --target wasm32-wasip2

say "the WebAssembly component (clippy, then the build tests/component.rs loads)"
cargo clippy -p affinity-sync-wasm --locked --target wasm32-wasip2 -- -D warnings
scripts/component.sh
component="${CARGO_TARGET_DIR:-target}/wasm32-wasip2/wasm/affinity-sync.wasm"
# The component must stay under 3 MB (3,000,000 bytes): what a host downloads and compiles on
# a cold start. Its size is deterministic, so this is a check, not a benchmark.
size=$(stat -c %s "$component")
echo "component: $size bytes (limit 3000000)"
if [ "$size" -gt 3000000 ]; then
  echo "the component is $size bytes, over 3 MB: find what grew (twiggy top on the program in a build with" >&2
  echo "CARGO_PROFILE_WASM_STRIP=false, taken out of the component as scripts/optimize_component.py does) and bring it under" >&2
  exit 1
fi

say "cargo build"
# The tests run the Lambda function's binary (and the CLI's) as processes; `cargo test` builds
# a package's binaries only for that package's own integration tests, so build them all here
# (with --all-targets, so features unify as for clippy and test: DuckDB is built once).
cargo build --workspace --all-targets --locked

say "cargo test"
# The same target set as clippy: DuckDB's C++ (built by a build script) is compiled once, not
# once per differently unified set of build dependencies. Doc tests: the mock crate (no DuckDB).
cargo test --workspace --all-targets --locked -- --skip every_fault_schedule
cargo test -p affinity-mock --doc --locked

say "fuzz smoke run (scripts/fuzz.sh --dev 10: every target 10 s; a crash fails)"
# Nightly and cargo-fuzz are installed by the script when missing; its own target dir.
scripts/fuzz.sh --dev 10

say "the reliability suite (fault schedules; prints its totals)"
cargo test --workspace --all-targets --locked -- --nocapture --exact every_fault_schedule_ends_in_exactly_the_ground_truth 2>&1 \
  | grep -v '^schedule [0-9]*: ' 
