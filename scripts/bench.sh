#!/usr/bin/env bash
# Reproduces the figures in docs/BENCHMARKS.md. Loopback only; every run is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${BENCH_OUT:-target/bench}"
mkdir -p "$out"
cargo build --release -p tandem-server -p tandem-bench
for connections in 10000 15000; do
  ./target/release/tandem-bench idle --connections "$connections" --users 1000 --json "$out/idle-$connections.json"
done
./target/release/tandem-bench replay --events 1000 --runs 10 --json "$out/replay-1000.json"
./target/release/tandem-bench fanout --rooms 4 --members 200 --rate 200 --duration 10s --json "$out/fanout-4x200.json"
./target/release/tandem-bench fanout --rooms 2 --members 2000 --rate 50 --duration 10s --json "$out/fanout-2x2000.json"
echo "results: $out/*.json"
