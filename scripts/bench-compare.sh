#!/usr/bin/env bash
# Same-machine comparison of two hub builds, interleaved so both see the same conditions:
# `bench ingest` (100,000 messages) and `bench http` (1 and 64 clients, latency at 1,000 msg/s),
# two rounds each. Usage: scripts/bench-compare.sh OLD_BINARY NEW_BINARY [OUT_DIR]
# (build the old one from a worktree at the commit to compare with: cargo build --release).
set -euo pipefail
old=$1 new=$2 out=${3:-bench-results/compare}
mkdir -p "$out"
for round in 1 2; do
  for v in old new; do
    bin=$old; [ "$v" = new ] && bin=$new
    "$bin" bench ingest --messages 100000 --out "$out/ingest-$v-$round.json" > "$out/ingest-$v-$round.txt" 2>&1
    for c in 1 64; do
      "$bin" bench http --batch-messages 20000 --single-messages 20000 --clients "$c" --rate 1000 \
        --seconds 10 --out "$out/http-$v-$c-$round.json" > "$out/http-$v-$c-$round.txt" 2>&1
    done
  done
done
for f in "$out"/ingest-*.txt; do echo "$(basename "$f"): $(grep -E 'pipelined \(durable\)|verify only' "$f" | tr -s ' ' | tr '\n' ' ')"; done
for f in "$out"/http-*.txt; do echo "$(basename "$f"): $(grep -E 'single-message|batch ingest|p50 at|p99 at' "$f" | cut -d'|' -f2,3 | tr '\n' ' ')"; done
