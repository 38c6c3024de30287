#!/usr/bin/env bash
# scaling_rank.sh: one MPI rank of a scaling-study run (deploy/scaling.sh),
# run under the launcher so that each rank's CPU time is measured:
#
#   mpirun -np N bash deploy/scaling_rank.sh DIR build/grpo train ...
#   srun       bash deploy/scaling_rank.sh DIR build/grpo train ...
#
# Runs the command (the rank; it inherits the launcher's environment, so
# MPI_Init works as usual) and writes one line "RANK USER_S SYS_S WALL_S" to
# DIR/rank-RANK: the user and system CPU seconds of the command and its
# children (bash's `time`: getrusage of the waited-for child, every thread of
# it included; a dashboard gnuplot the learner starts counts too) and its wall
# seconds. RANK is OMPI_COMM_WORLD_RANK (mpirun), else PMIX_RANK, else
# SLURM_PROCID (srun), else 0. Exits with the command's status.
#
# CPU time, not wall time, is what oversubscription cannot inflate: a rank
# descheduled because 9 ranks share 2 cores (or because the hypervisor steals
# the core) accrues wall time inside its phase timers but no CPU time.
# Not for signal-driven runs: bash would die on a SIGUSR1 meant for grpo.
dir=${1:?usage: scaling_rank.sh DIR COMMAND...}
shift
rank=${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${SLURM_PROCID:-0}}}
mkdir -p "$dir"
TIMEFORMAT="$rank %U %S %R"
exec 3>&2
{ time "$@" 2>&3 3>&-; } 2> "$dir/rank-$rank"
