#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 300). Needs cargo-fuzz
# (`cargo install cargo-fuzz`); on a stable toolchain RUSTC_BOOTSTRAP=1 lets it use
# the sanitizer flags.
set -euo pipefail
secs=${1:-300}
cd "$(dirname "$0")/../fuzz"
export RUSTC_BOOTSTRAP=${RUSTC_BOOTSTRAP:-1}
for t in $(cargo fuzz list); do
  echo "== $t ($secs s)"
  cargo fuzz run "$t" -- -max_total_time="$secs"
done
