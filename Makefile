# M2MHub: `make test` installs what the tests need, then runs every test.
# CARGO_TARGET_DIR may point outside the clone so CI runs build incrementally.

CARGO ?= cargo

.PHONY: test deps lint fmt bench run

test: deps lint
	$(CARGO) test --workspace --all-targets --locked

# The foundation's tests need only the Rust toolchain and Python's `cryptography` package
# (for regenerating vectors, checked in CI). Browser, Ethereum and MQTT components are
# installed here as the issues that need them land.
deps:
	@command -v $(CARGO) >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }
	@python3 -c "import cryptography" 2>/dev/null || python3 -m pip install --quiet cryptography
	python3 testdata/check_vectors.py

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

bench:
	$(CARGO) run --release -- bench ingest

run:
	$(CARGO) run --release -- serve
