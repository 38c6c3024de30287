#!/usr/bin/env bash
# scaling.sh: the scaling study. The same GRPO training (same SFT start, same
# seed, same steps) for each actor count in sync and async mode, one CSV row
# per run, the knee model, and the figure. See deploy/SCALING.md.
#
#   bash deploy/scaling.sh [options] [section.key=value ...]
#
#   -a "1 2 4"     actor counts                          (env ACTORS)
#   -m "sync async" modes                                (env MODES)
#   -s 60          GRPO steps per run                    (env STEPS)
#   -c FILE        SFT checkpoint to start from; if not given, OUT/sft/sft.ckpt
#                  is made (or reused when it exists)    (env SFT_CKPT)
#   -n N           SFT steps when making it (default: the config's sft.steps)
#                                                        (env SFT_STEPS)
#   -t 0.9         target held-out greedy accuracy       (env TARGET)
#   -k 1           async max_staleness                   (env MAX_STALENESS)
#   -o DIR         output dir (default runs/scaling)     (env OUT)
#   -x "k=v ..."   extra config overrides for every run  (env EXTRA)
#   -C N           cores for the model's CPU cap (default: nproc) (env CORES)
# Trailing section.key=value arguments are extra overrides too; they also go
# to the SFT run (the model shape must match). GRPO_BIN (default
# build/grpo) and MPIRUN (default "mpirun --oversubscribe") are taken from
# the environment.
#
# Writes OUT/scaling.csv, OUT/model.txt, OUT/model.dat, OUT/scaling.png, and
# per run OUT/a<N>-<mode>/ (metrics.jsonl, summary.json, ...) and
# OUT/a<N>-<mode>.log. Exits non-zero, with the log's tail, if a run fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

actors=${ACTORS:-"1 2 4"}
modes=${MODES:-"sync async"}
steps=${STEPS:-60}
sft_ckpt=${SFT_CKPT:-}
sft_steps=${SFT_STEPS:-}
target=${TARGET:-0.9}
staleness=${MAX_STALENESS:-1}
out=${OUT:-runs/scaling}
extra=${EXTRA:-}
cores=${CORES:-$(nproc)}
bin=${GRPO_BIN:-$root/build/grpo}
mpirun=${MPIRUN:-mpirun --oversubscribe}

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while getopts "a:m:s:c:n:t:k:o:x:C:h" opt; do
  case "$opt" in
    a) actors=$OPTARG ;; m) modes=$OPTARG ;; s) steps=$OPTARG ;;
    c) sft_ckpt=$OPTARG ;; n) sft_steps=$OPTARG ;; t) target=$OPTARG ;;
    k) staleness=$OPTARG ;; o) out=$OPTARG ;; x) extra=$OPTARG ;; C) cores=$OPTARG ;;
    h) usage 0 ;; *) usage 2 ;;
  esac
done
shift $((OPTIND - 1))
extra="$extra $*"
# shellcheck disable=SC2206
extra_args=($extra)

for n in $actors; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "scaling.sh: actor count '$n' is not a positive integer" >&2; exit 2; }
done
for m in $modes; do
  case "$m" in sync|async) ;; *) echo "scaling.sh: mode '$m' is not sync or async" >&2; exit 2 ;; esac
done
[ -x "$bin" ] || { echo "scaling.sh: no binary at $bin: run 'make -j2 all' (or set GRPO_BIN)" >&2; exit 1; }
command -v gnuplot > /dev/null || { echo "scaling.sh: gnuplot not found: run 'bash deploy/install-deps.sh' as root" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$out"

# the SFT start, shared by every run
if [ -z "$sft_ckpt" ]; then
  sft_ckpt=$out/sft/sft.ckpt
  if [ ! -s "$sft_ckpt" ]; then
    echo "== SFT -> $sft_ckpt${sft_steps:+ ($sft_steps steps)}"
    "$bin" sft run.dir="$out/sft" ${sft_steps:+sft.steps=$sft_steps} "${extra_args[@]}" \
      > "$out/sft.log" 2>&1 || { tail -n 20 "$out/sft.log" >&2; echo "scaling.sh: SFT failed (log $out/sft.log)" >&2; exit 1; }
  fi
fi
[ -s "$sft_ckpt" ] || { echo "scaling.sh: no SFT checkpoint at $sft_ckpt" >&2; exit 1; }

csv=$out/scaling.csv
awk -v header=1 -f "$here/scaling_summary.awk" > "$csv"
{
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(hostname) $(nproc) cores"
  echo "# actors='$actors' modes='$modes' steps=$steps sft=$sft_ckpt target=$target max_staleness=$staleness extra='$extra'"
} > "$out/command.txt"

for n in $actors; do
  for mode in $modes; do
    run=$out/a$n-$mode
    async=0; [ "$mode" = async ] && async=1
    rm -rf "$run"
    echo "== $n actor(s), $mode: $run"
    start=$(date +%s)
    # shellcheck disable=SC2086
    if ! $mpirun -np $((n + 1)) "$bin" train run.dir="$run" grpo.init="$sft_ckpt" \
        grpo.steps="$steps" "${extra_args[@]}" grpo.async=$async grpo.max_staleness="$staleness" \
        > "$run.log" 2>&1; then
      tail -n 20 "$run.log" >&2
      echo "scaling.sh: run failed: $n actor(s), $mode (log $run.log)" >&2
      exit 1
    fi
    awk -v actors="$n" -v mode="$mode" -v target="$target" -f "$here/scaling_summary.awk" \
      "$run/metrics.jsonl" "$run/summary.json" >> "$csv" ||
      { echo "scaling.sh: cannot summarise $run (metrics.jsonl or summary.json missing)" >&2; exit 1; }
    echo "   $(( $(date +%s) - start )) s: $(tail -n 1 "$csv")"
  done
done

echo "== $csv"
cat "$csv"
echo "== knee model"
bash "$here/scaling_model.sh" "$csv" "$out" "$cores"

# plot: the bases of the ideal lines and what the right panel has to show
read -r base_sync base_async nmax n_tta < <(awk -F, 'NR > 1 {
    if ($1 == 1 && $2 == "sync") bs = $3
    if ($1 == 1 && $2 == "async") ba = $3
    if ($1 > nm) nm = $1
    if ($9 != "") nt++ }
  END { printf "%s %s %d %d\n", bs == "" ? "NaN" : bs, ba == "" ? "NaN" : ba, nm, nt }' "$csv")
gnuplot -e "csv='$csv'; model='$out/model.dat'; png='$out/scaling.png'; target='$target'; \
  cores='$cores'; base_sync=$base_sync; base_async=$base_async; nmax=$nmax; n_tta=$n_tta" \
  "$here/plot_scaling.gp"
echo "plot: $out/scaling.png"
