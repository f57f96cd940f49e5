# M2MHub: `make test` installs what the tests need, then runs every test.
# CARGO_TARGET_DIR may point outside the clone so CI runs build incrementally.

CARGO ?= cargo
# The schemathesis release the API contract test is pinned to.
SCHEMATHESIS := 4.32.5

.PHONY: test test-long deps lint fmt bench bench-gas run contracts contracts-check api-contract sdk-test console console-check screenshot

# apt-get needs root; use sudo when not root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

test: deps lint contracts-check console-check
	$(CARGO) test --workspace --all-targets --locked
	$(CARGO) build --locked --bin m2mhub
	$(MAKE) sdk-test
	cd tests/browser && npm test
	$(MAKE) api-contract

# schemathesis against the real `m2mhub serve` (debug build) and its /v1/openapi.json: every
# check, the stateful phase, any finding fails (tests/api-contract/run.sh; ~4 minutes).
api-contract:
	$(CARGO) build --locked --bin m2mhub
	tests/api-contract/run.sh

# The device SDKs (sdk/): the C core's unit tests (-Wall -Wextra -Werror, ASan and UBSan) and
# its libcurl and libmosquitto examples, the Python SDK's pytest suite, and the cross-SDK test,
# all against the binary `test` builds (M2MHUB_BIN to use another one).
M2MHUB_BIN ?= $${CARGO_TARGET_DIR:-target}/debug/m2mhub
sdk-test:
	$(MAKE) -C sdk/c test examples
	M2MHUB_BIN="$(M2MHUB_BIN)" python3 -m pytest -q -p no:cacheprovider sdk/python/tests sdk/cross

# What the tests need: Python's `cryptography` (the vectors' independent implementation),
# Debian's Chromium and playwright-core from npm (the console's browser tests), solc-js and
# anvil from npm (contracts/: the artifacts check and the chain tests), Debian's Mosquitto (the
# MQTT tests' external broker; the tests start and stop it themselves), Debian's
# mosquitto-clients and Python's paho-mqtt, pinned (outside MQTT 3.1.1 and 5 clients of the
# embedded broker), the openssl command
# (the TLS test makes its CA and certificate with it), Debian's Prometheus (its `promtool
# check metrics` checks the hub's /metrics; `check rules` and `test rules` deploy/alerts.yml),
# Debian's Graphviz (`dot` draws the DOT graphs), Python's `prov` (reads the PROV-JSON) and
# `systemd-analyze` (verifies deploy/m2mhub.service; no running systemd needed),
# schemathesis from PyPI (the API contract test, `make api-contract`) at a pinned version, and
# for the device SDKs (sdk/) gcc, libsodium, libcurl and libmosquitto (Debian -dev packages)
# and pytest, and Go with golang.org/x/mod (Debian: its sumdb/note and sumdb/tlog check the
# hub's checkpoints, proofs and tiles from outside, tests/go-tlog), and PyPI's tlog-scales
# (a second outside reader of the tiles, and of the members' cosignatures, tests/tlog-scales).
deps:
	@command -v $(CARGO) >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }
	@python3 -c "import cryptography" 2>/dev/null || python3 -m pip install --quiet cryptography
	@python3 -c "import prov" 2>/dev/null || python3 -m pip install --quiet prov
	@python3 -c "import tlog_scales" 2>/dev/null || python3 -m pip install --quiet tlog-scales==0.0.3
	@schemathesis --version 2>/dev/null | grep -qx "schemathesis, version $(SCHEMATHESIS)" || python3 -m pip install --quiet schemathesis==$(SCHEMATHESIS)
	python3 testdata/check_vectors.py
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }
	@test -x /usr/sbin/mosquitto && command -v mosquitto_pub >/dev/null && command -v openssl >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq mosquitto mosquitto-clients openssl; }
	@python3 -c "import paho.mqtt, sys; sys.exit(paho.mqtt.__version__ != '2.1.0')" 2>/dev/null || python3 -m pip install --quiet paho-mqtt==2.1.0
	@command -v promtool >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq prometheus; }
	@command -v go >/dev/null && test -d /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq golang-go golang-golang-x-mod-dev; }
	@command -v dot >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq graphviz; }
	@command -v systemd-analyze >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq systemd; }
	@dpkg -s gcc make libsodium-dev libcurl4-openssl-dev libmosquitto-dev >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq gcc make libsodium-dev libcurl4-openssl-dev libmosquitto-dev; }
	@python3 -c "import pytest" 2>/dev/null || python3 -m pip install --quiet pytest==9.2.0
	cd tests/browser && npm ci --no-audit --no-fund
	cd console && npm ci --no-audit --no-fund
	cd contracts && npm ci --no-audit --no-fund

# The long variants of the crash, tamper, model, soak and fuzz tests (~90 minutes).
test-long: deps
	scripts/long-run.sh

lint:
	vendor/check.sh
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

bench:
	$(CARGO) run --release -- bench all

# The paper's Figure 7 and anchor gas, in revm: table, bench-results/gas.json and gas.svg.
bench-gas:
	$(CARGO) run --release -- bench gas

run:
	$(CARGO) run --release -- serve

# Recompiles contracts/src with the pinned solc-js; fails when contracts/out differs.
contracts-check:
	cd contracts && npm run --silent check

# Rebuilds the console from console/src with the pinned esbuild; fails when the committed page
# (crates/m2mhub-server/ui/index.html, embedded in the binary) differs. Then the console's unit
# tests (its in-browser verifier against testdata/ and a hub's answers, the tree model).
console-check:
	cd console && npm run --silent check && npm test

# The README's console pictures (docs/console.png, docs/console-tx.png), from a live demo after
# a minute of background traffic (tests/browser/screenshot.mjs).
screenshot:
	$(CARGO) build --locked --bin m2mhub
	cd tests/browser && node screenshot.mjs

# Rewrites crates/m2mhub-server/ui/index.html from console/src (commit the result).
console:
	cd console && npm run --silent build

# Rewrites contracts/out from contracts/src (commit the result).
contracts:
	cd contracts && npm run --silent build
