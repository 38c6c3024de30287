#!/usr/bin/env bash
# Runs every benchmark binary in BUILD/tests (bench_*) in turn, passing its
# output through. Exit status is non-zero if any benchmark failed.
# BENCH_FILTER=substring limits the run to matching binaries.
# MPI benchmarks (bench_comm, bench_*_mpi) run under
# `mpirun --oversubscribe -np BENCH_NP` (default 5: 1 learner + 4 actors).
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
  case "$name" in
    bench_comm|bench_*_mpi) cmd=(mpirun --oversubscribe -np "${BENCH_NP:-5}" "$bin") ;;
    *) cmd=("$bin") ;;
  esac
  "${cmd[@]}" || { echo "$name failed (exit $?)"; status=1; }
done
exit $status
