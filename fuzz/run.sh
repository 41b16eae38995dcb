#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) each, seeded from the corpora in
# fuzz/seeds/. Installs cargo-fuzz when missing. A crash fails the script; the
# crashing input is left in fuzz/artifacts/TARGET/.
#   bash fuzz/run.sh            # one minute each (CI)
#   bash fuzz/run.sh 1800       # a 30-minute campaign per target
# Every input runs under a memory ceiling and a time limit (FUZZ_RSS_MB, default
# 1024 MB, also the largest single allocation; FUZZ_TIMEOUT, default 5 s): a memory
# or CPU bomb is a finding (oom-* or timeout-* in fuzz/artifacts/), not a slow run.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
rss_mb="${FUZZ_RSS_MB:-1024}"
per_input="${FUZZ_TIMEOUT:-5}"
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
    -max_total_time="$seconds" -dict="$dict" -max_len=4096 \
    -timeout="$per_input" -rss_limit_mb="$rss_mb" -malloc_limit_mb="$rss_mb" -print_final_stats=1 2>&1 \
    | grep -E "stat::number_of_executed_units|Done|ERROR|SUMMARY|panicked|crash-" || true
  # libFuzzer exits non-zero on a crash; pipefail keeps that status, but grep may hide it.
  # compgen succeeds when any file matches (ls of several globs fails when one does not).
  if compgen -G "artifacts/$target/crash-*" >/dev/null || compgen -G "artifacts/$target/timeout-*" >/dev/null \
    || compgen -G "artifacts/$target/oom-*" >/dev/null; then
    echo "fuzz target $target found a failure:"; ls "artifacts/$target"; exit 1
  fi
done
