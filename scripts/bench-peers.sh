#!/usr/bin/env bash
# The side-by-side comparison in one command: the same fan-out (10 rooms × 1,000 members =
# 10,000 connections) on Tandem, the raw TCP ceiling, Sockudo and socket.io, one after the
# other, at 20k and 50k deliveries/s offered. Prints tandem/peer ratios; writes JSON and SVG.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${BENCH_OUT:-target/bench}"
mkdir -p "$out"
cargo build --release -p tandem-server -p tandem-bench
targets="tandem,raw"
if command -v sockudo >/dev/null; then
  targets="$targets,sockudo"
else
  echo "sockudo not found: apt-get install -y cmake protobuf-compiler && cargo install sockudo --locked" >&2
fi
if command -v npm >/dev/null && npm ci --silent --no-audit --no-fund --prefix bench/peers/socketio; then
  targets="$targets,socketio"
else
  echo "npm not found or npm ci failed: socket.io left out" >&2
fi
for rate in 20 50; do
  ./target/release/tandem-bench fanout --targets "$targets" --rooms 10 --members 1000 --rate "$rate" \
    --duration 10s --json "$out/peers-10k-${rate}k.json" --plot "$out/peers-10k-${rate}k.svg"
done
