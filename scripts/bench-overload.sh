#!/usr/bin/env bash
# Overload (docs/BENCHMARKS.md, "No collapse under overload"): 2 rooms × 2,000 members, tandem
# and the raw TCP ceiling in the same run, at each offered rate, twice; then one chart of
# offered vs published vs delivered events/s (tandem-bench overload-chart). Loopback only,
# bounded (each run stops by itself). Results: $BENCH_OUT/overload/*.json and overload.svg.
#
#   RUNS=2 RATES="100 250 500 1000 2000" scripts/bench-overload.sh
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
out="${BENCH_OUT:-target/bench}/overload"
runs="${RUNS:-2}"
rates="${RATES:-100 250 500 1000 2000}"
duration="${DURATION:-10s}"
mkdir -p "$out"
cargo build --release -p tandem-server -p tandem-bench
bench="$target/release/tandem-bench"
jsons=()
for run in $(seq "$runs"); do
  for rate in $rates; do
    json="$out/run$run-rate$rate.json"
    "$bench" fanout --tandem-bin "$target/release/tandem" --targets tandem,raw --rooms 2 --members 2000 \
      --rate "$rate" --duration "$duration" --json "$json" | tee "$out/run$run-rate$rate.log"
    jsons+=("$json")
  done
done
"$bench" overload-chart --out "$out/overload.svg" "${jsons[@]}"
