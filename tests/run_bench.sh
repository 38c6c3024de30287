#!/usr/bin/env bash
# Runs every benchmark binary in BUILD/tests (bench_*) in turn, passing its
# output through. Exit status is non-zero if any benchmark failed.
# BENCH_FILTER=substring limits the run to matching binaries.
set -u
build=${1:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
status=0
for bin in "$build"/tests/bench_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  [ -n "${BENCH_FILTER:-}" ] && [[ "$name" != *"$BENCH_FILTER"* ]] && continue
  echo "=== $name"
  "$bin" || { echo "$name failed (exit $?)"; status=1; }
done
exit $status
