#!/usr/bin/env bash
# Instructions per call for every measured call of benches/peers.rs, courier and the
# peers alike, counted by callgrind (deterministic, unlike wall times on a shared
# machine). Each call is made 1,010 times inside a function of `peers::loops`; this
# prints the inclusive count of each divided by 1,010.
#
#   bash benches/support/instructions.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo bench --bench peers --no-run 2>/dev/null
binary=$(ls -t target/release/deps/peers-* | grep -v '\.d$' | head -1)
out=$(mktemp)
# A filter that matches no benchmark: only the checks and the counted calls run.
valgrind --tool=callgrind --callgrind-out-file="$out" "$binary" --bench no-benchmark-matches-this >/dev/null 2>&1
callgrind_annotate --inclusive=yes "$out" 2>/dev/null \
    | sed -n -E 's/^ *([0-9,]+) .*peers::loops::([a-z0-9_]+) .*/\2 \1/p' \
    | tr -d , | sort -u -k1,1 | awk '{ printf "%-40s %10.0f\n", $1, $2 / 1010 }'
rm -f "$out"
