#!/usr/bin/env bash
# Runs every benchmark binary given as arguments, then the side-by-side peer
# scripts (bench/*.sh), printing each one's output. Benchmarks never run in
# `make test`. Set BENCH_ONLY=name to run one.
set -u
cd "$(dirname "$0")/.." || exit 1
for b in "$@"; do
    n=$(basename "$b")
    [ -n "${BENCH_ONLY:-}" ] && [ "$n" != "$BENCH_ONLY" ] && continue
    echo "== $n"
    "$b" || echo "$n failed with exit $?"
done
for s in bench/*.sh; do
    [ -e "$s" ] || continue
    case "$s" in */run.sh | */lib.sh) continue ;; esac
    n=$(basename "$s" .sh)
    [ -n "${BENCH_ONLY:-}" ] && [ "$n" != "$BENCH_ONLY" ] && continue
    echo "== $n"
    bash "$s" || echo "$n failed with exit $?"
done
