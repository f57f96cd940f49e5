#!/usr/bin/env bash
# The proving ground's long run (issue 6): the long variants of the crash, power-cut, tamper,
# model, soak and fuzz tests, one after another; stops at the first failure. `make test-long`
# runs it. About 90 minutes on 2 cores: 200 kills, 50 kills across a three-hub federation, 1,000 power cuts, 5,000 file edits, 5,000
# model sequences, a 10-minute soak, and FUZZ_SECS (default 600; 0 skips it) of libFuzzer per
# fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz_secs=${FUZZ_SECS:-600}
step() { echo; echo "== $(date -u +%H:%M:%S) $*"; }

step "building the release test binaries"
cargo test --release --locked -p m2mhub --test crash --test soak --test federation_crash --no-run
cargo test --release --locked -p m2mhub-ledger --test tamper --test model --test power_cut --no-run

step "kill -9 under load, 200 times"
M2MHUB_CRASH_ROUNDS=200 cargo test --release --locked -p m2mhub --test crash -- --nocapture
step "a federation of three hubs under cross-hub load, 50 random kills"
M2MHUB_FED_KILLS=50 cargo test --release --locked -p m2mhub --test federation_crash -- --nocapture
step "power cuts: 1,000, each losing every unsynced write (strict or torn)"
M2MHUB_POWER_CUTS=1000 cargo test --release --locked -p m2mhub-ledger --test power_cut -- --nocapture
step "tamper: 5,000 random edits of the store"
M2MHUB_TAMPER_EDITS=5000 cargo test --release --locked -p m2mhub-ledger --test tamper -- --nocapture
step "the ledger against the reference model of SPEC §3, 5,000 sequences"
PROPTEST_CASES=5000 cargo test --release --locked -p m2mhub-ledger --test model
step "soak, 10 minutes"
M2MHUB_SOAK_SECS=600 cargo test --release --locked -p m2mhub --test soak -- --nocapture
if [ "$fuzz_secs" -gt 0 ]; then
  step "fuzzing every decoder, ${fuzz_secs} s each"
  command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
  scripts/fuzz-all.sh "$fuzz_secs"
fi
step "long run passed"
