#!/usr/bin/env bash
# Reproduces every figure in docs/BENCHMARKS.md. Loopback only; every run is bounded in
# connections and time. Release builds; results (JSON and SVG) go to $BENCH_OUT.
#
# The peer comparison needs Node.js (npm installs socket.io here) and, for Sockudo,
#   apt-get install -y cmake protobuf-compiler && cargo install sockudo --locked
# (about 40 minutes on 2 cores). A peer that is missing is left out, and the script says so.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${BENCH_OUT:-target/bench}"
mkdir -p "$out"
cargo build --release -p tandem-server -p tandem-bench
bench=./target/release/tandem-bench

for connections in 10000 15000; do
  $bench idle --connections "$connections" --users 1000 --rounds 2 --settle 15s --json "$out/idle-$connections.json"
done
# Memory given back after connection floods (docs/BENCHMARKS.md, "Memory after a connection flood").
$bench idle --connections 3000 --users 300 --rounds 3 --settle 15s --json "$out/flood-3000.json"
$bench replay --events 1000 --runs 10 --json "$out/replay-1000.json"
$bench presence --users 1000 --group 10 --churn 500 --json "$out/presence.json"
$bench storm --clients 10000 --rooms 10 --json "$out/storm.json"
$bench raw --rooms 2 --members 2000 --rate 250 --duration 10s --json "$out/raw-2x2000.json"
$bench fanout --targets tandem,raw --rooms 2 --members 2000 --rate 250 --duration 10s \
  --json "$out/fanout-2x2000.json" --plot "$out/fanout-2x2000.svg"
scripts/bench-peers.sh
# Cross-node fan-out (docs/BENCHMARKS.md, "Cluster fan-out (issue 16)"): needs PostgreSQL on
# 127.0.0.1:5432, psql, and redis-server.
scripts/bench-cluster.sh
echo "results: $out/*.json, charts: $out/*.svg"
