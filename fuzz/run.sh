#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) each, seeded from the corpora in
# fuzz/seeds/. Installs cargo-fuzz when missing. A crash fails the script; the
# crashing input is left in fuzz/artifacts/TARGET/.
#   bash fuzz/run.sh            # one minute each (CI)
#   bash fuzz/run.sh 1800       # a 30-minute campaign per target
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo fuzz build
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target"
  seeds="seeds/$target"
  [ -d "$seeds" ] || seeds="seeds/common"
  dict="dictionary.txt"
  echo "-- $target: ${seconds}s"
  cargo fuzz run "$target" "corpus/$target" "$seeds" -- \
    -max_total_time="$seconds" -dict="$dict" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
    | grep -E "stat::number_of_executed_units|Done|ERROR|SUMMARY|panicked|crash-" || true
  # libFuzzer exits non-zero on a crash; pipefail keeps that status, but grep may hide it.
  if ls "artifacts/$target"/crash-* "artifacts/$target"/timeout-* "artifacts/$target"/oom-* >/dev/null 2>&1; then
    echo "fuzz target $target found a failure:"; ls "artifacts/$target"; exit 1
  fi
done
