#!/usr/bin/env bash
# scaling_submit.sh: the scaling study's grid on a SLURM cluster, one job per
# grid point (deploy/slurm/grpo_scaling.sbatch), each with as many tasks as
# the point has ranks. Run from the repository root:
#
#   bash deploy/slurm/scaling_submit.sh [-L "1 2"] [-a "1 2 4 8"] [-P "1 2 4"]
#        [-m "sync async"] [-S "sbatch options"] [-e] -- SCALING_OPTIONS...
#
#   -L, -a, -P, -m  the grid, as in deploy/scaling.sh (defaults: "1 2",
#                   "1 2 4 8", "1 2 4", "sync async")
#   -S "..."        extra sbatch options for every job (partition, account,
#                   --time, --nodes ...)
#   -d              dry run: print the sbatch commands, submit nothing
#   -e              do not ask for --exclusive nodes (by default every grid
#                   point runs on nodes of its own, so no two timing runs share
#                   a node)
#   SCALING_OPTIONS the rest of scaling.sh's options: -o OUT (on a shared file
#                   system), -w, -s, -c, -n, -t, -k, -x, section.key=value ...
#
# Submits (1) the SFT start, unless SCALING_OPTIONS hold -c FILE; (2) one job
# per point, each after (1) succeeded; K > 1 with async, and colocated async,
# are not submitted (scaling.sh would skip them: grpo refuses them for now;
# ASYNC_MULTI=1 submits them); (3) the report (scaling.sh -R: OUT/scaling.csv,
# model.txt, scaling.png) after every point has ended, with CORES (the
# model's CPU cap) = the largest point's ranks, since every point had a core
# per rank (export CORES to change it). Prints the job ids.
# SBATCH (default sbatch) is the submit command.
set -euo pipefail
learners="1 2"; actors="1 2 4 8"; colocated="1 2 4"; modes="sync async"
sbatch_opts=""; exclusive="--exclusive"; dry=0
while getopts "L:a:P:m:S:deh" opt; do
  case "$opt" in
    L) learners=$OPTARG ;; a) actors=$OPTARG ;; P) colocated=$OPTARG ;; m) modes=$OPTARG ;;
    S) sbatch_opts=$OPTARG ;; d) dry=1 ;; e) exclusive="" ;;
    h) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
opts=("$@")
sbatch=${SBATCH:-sbatch}
script=deploy/slurm/grpo_scaling.sbatch
[ -f "$script" ] || { echo "scaling_submit.sh: run from the repository root (no $script)" >&2; exit 1; }

# submit NAME NTASKS DEPENDENCY ARGS...: prints the job id
submit() {
  local name=$1 ntasks=$2 dep=$3; shift 3
  if [ "$dry" = 1 ]; then
    local a shown=()
    for a in "$@"; do shown+=("${a:-''}"); done
    # shellcheck disable=SC2086
    echo "  $sbatch --parsable --job-name=scal-$name --ntasks=$ntasks ${dep:+--dependency=$dep}" \
         $sbatch_opts "${shown[@]}" >&2
    echo "<$name>"; return 0
  fi
  # shellcheck disable=SC2086
  $sbatch --parsable --job-name="scal-$name" --ntasks="$ntasks" ${dep:+--dependency=$dep} \
    $sbatch_opts "$@" | cut -d';' -f1
}

has_ckpt=0
for a in "${opts[@]}"; do [ "$a" = -c ] && has_ckpt=1; done
dep=""
if [ "$has_ckpt" = 0 ]; then
  id=$(submit sft 1 "" "$script" "${opts[@]}" -X -L "" -a "" -P "")
  echo "sft: job $id"
  dep="afterok:$id"
fi
ids=()
for k in $learners; do
  for n in $actors; do
    for m in $modes; do
      if [ "$k" -gt 1 ] && [ "$m" = async ] && [ "${ASYNC_MULTI:-0}" != 1 ]; then
        echo "k$k-a$n-$m: not submitted (async with more than one learner is refused for now)"; continue
      fi
      # shellcheck disable=SC2086
      id=$(submit "k$k-a$n-$m" $((k + n)) "$dep" $exclusive "$script" "${opts[@]}" -X -L "$k" -a "$n" -m "$m" -P "")
      echo "k$k-a$n-$m: job $id ($((k + n)) tasks)"; ids+=("$id")
    done
  done
done
for np in $colocated; do
  for m in $modes; do
    if [ "$m" = async ] && [ "${ASYNC_MULTI:-0}" != 1 ]; then
      echo "c$np-$m: not submitted (the colocated layout is sync only)"; continue
    fi
    # shellcheck disable=SC2086
    id=$(submit "c$np-$m" "$np" "$dep" $exclusive "$script" "${opts[@]}" -X -L "" -a "" -P "$np" -m "$m")
    echo "c$np-$m: job $id ($np tasks)"; ids+=("$id")
  done
done
all=$(IFS=:; echo "${ids[*]}")
# every point had a core per rank: the model's CPU cap is the largest point's ranks
maxnp=1
for k in $learners; do for n in $actors; do [ $((k + n)) -gt "$maxnp" ] && maxnp=$((k + n)); done; done
for np in $colocated; do [ "$np" -gt "$maxnp" ] && maxnp=$np; done
id=$(submit report 1 "${all:+afterany:$all}" --export=ALL,CORES="${CORES:-$maxnp}" "$script" "${opts[@]}" -R)
echo "report: job $id (after ${#ids[@]} grid jobs)"
