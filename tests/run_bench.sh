#!/usr/bin/env bash
# Runs every benchmark binary in BUILD/tests (bench_*) in turn, passing its
# output through. Exit status is non-zero if any benchmark failed.
# BENCH_FILTER=substring limits the run to matching binaries.
# MPI benchmarks (bench_comm, bench_*_mpi) run under
# `mpirun --oversubscribe -np BENCH_NP` (default 5: 1 learner + 4 actors),
# except those in np_of, which want a rank count of their own: the
# both-cores rows take exactly 2 ranks, unbound (Open MPI binds each of 2
# ranks to a core, which would put one rank's 2 BLAS threads on one core).
set -u
build=${1:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
declare -A np_of=([bench_perf_two_cores_mpi]=2)
declare -A mpirun_opts=([bench_perf_two_cores_mpi]="--bind-to none")
status=0
for bin in "$build"/tests/bench_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  [ -n "${BENCH_FILTER:-}" ] && [[ "$name" != *"$BENCH_FILTER"* ]] && continue
  echo "=== $name"
  case "$name" in
    bench_comm|bench_*_mpi)
      # shellcheck disable=SC2206 # the options are words
      cmd=(mpirun --oversubscribe ${mpirun_opts[$name]:-} -np "${np_of[$name]:-${BENCH_NP:-5}}" "$bin") ;;
    *) cmd=("$bin") ;;
  esac
  "${cmd[@]}" || { echo "$name failed (exit $?)"; status=1; }
done
exit $status
