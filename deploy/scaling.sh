#!/usr/bin/env bash
# scaling.sh: the scaling study. The same GRPO training (same SFT start, same
# seed, same steps) for each grid point: learners K x actors n x mode (sync,
# async), and colocated runs of N ranks that each sample and learn; one CSV
# row per run with throughput and CPU time per rank, the knee model n*(K),
# and the figure. See deploy/SCALING.md.
#
#   bash deploy/scaling.sh [options] [section.key=value ...]
#
#   -a "1 2 4"     actor counts n                        (env ACTORS)
#   -L "1"         learner counts K (K > 1 passes grpo.learners=K; np = K + n)
#                                                        (env LEARNERS)
#   -P ""          colocated rank counts N (grpo.layout=colocated, np = N;
#                  sync only)                            (env COLOCATED)
#   -m "sync async" modes                                (env MODES)
#   -w NAME        workload preset: "" (the config as given) or "gen" (the
#                  long-completion one: arith_cot, ~86-token completions)
#                                                        (env WORKLOAD)
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
#   -r             resume: skip grid points whose row (OUT/<point>.row) exists
#   -X             run the points only: no CSV, model or plot (SLURM array tasks)
#   -R             report only: no runs; CSV, model and plot from every
#                  OUT/<point>.row there is (give the runs' -t for the plot)
# Trailing section.key=value arguments are extra overrides too; they also go
# to the SFT run (the model shape must match). GRPO_BIN (default
# build/grpo), MPIRUN (default "mpirun --oversubscribe") and NP_FLAG (the
# launcher's rank-count flag: -np; srun: -n) are taken from the environment. K > 1 with async, and colocated with async, are skipped
# (grpo refuses them for now) unless ASYNC_MULTI=1.
#
# Writes OUT/scaling.csv, OUT/model.txt, OUT/model.dat, OUT/scaling.png,
# OUT/skipped.txt, and per grid point OUT/<point>/ (metrics.jsonl,
# summary.json, ...), OUT/<point>.log, OUT/<point>.cpu (CPU seconds per rank
# and of the whole launch, and the machine's busy and steal seconds meanwhile)
# and OUT/<point>.row (its CSV row); <point> is
# k<K>-a<n>-<mode> or c<N>-sync. Rows accumulate in OUT: a point run again
# replaces its own row, the others stay. Exits non-zero, with the log's
# tail, if a run fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

actors=${ACTORS:-"1 2 4"}
learners=${LEARNERS:-1}
colocated=${COLOCATED:-}
modes=${MODES:-"sync async"}
workload=${WORKLOAD:-}
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
np_flag=${NP_FLAG:--np}
resume=0; run_points=1; report=1

usage() { sed -n '2,44p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while getopts "a:L:P:m:w:s:c:n:t:k:o:x:C:rXRh" opt; do
  case "$opt" in
    a) actors=$OPTARG ;; L) learners=$OPTARG ;; P) colocated=$OPTARG ;;
    m) modes=$OPTARG ;; w) workload=$OPTARG ;; s) steps=$OPTARG ;;
    c) sft_ckpt=$OPTARG ;; n) sft_steps=$OPTARG ;; t) target=$OPTARG ;;
    k) staleness=$OPTARG ;; o) out=$OPTARG ;; x) extra=$OPTARG ;; C) cores=$OPTARG ;;
    r) resume=1 ;; X) report=0 ;; R) run_points=0 ;;
    h) usage 0 ;; *) usage 2 ;;
  esac
done
shift $((OPTIND - 1))

# the long-completion workload, as generation-heavy as this code gets (still
# learner-bound per rank, SCALING.md): the reasoning task (worked column-by-column
# scratchpads, ~85 tokens per completion, up to 180), the demo's model shape
# and sampling temperature, no KL term (grpo.beta=0: no reference forward in
# the learner, as in Dr. GRPO and DAPO), small held-out evals
case "$workload" in
  "") preset="" ;;
  gen) preset="model.dim=64 model.n_layers=2 model.hidden_dim=176 model.max_seq_len=192
    task.name=arith_cot sampler.max_new_tokens=180 sampler.temperature=0.7
    grpo.lr=1e-4 grpo.lr_min=1e-5 grpo.beta=0 grpo.eval_every=10 eval.prompts=100" ;;
  *) echo "scaling.sh: workload '$workload' is not \"\" or gen" >&2; exit 2 ;;
esac
extra="$preset $extra $*"
# shellcheck disable=SC2206
extra_args=($extra)

for n in $actors $learners $colocated; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "scaling.sh: count '$n' is not a positive integer" >&2; exit 2; }
done
for m in $modes; do
  case "$m" in sync|async) ;; *) echo "scaling.sh: mode '$m' is not sync or async" >&2; exit 2 ;; esac
done
if [ "$run_points" = 1 ]; then
  [ -x "$bin" ] || { echo "scaling.sh: no binary at $bin: run 'make -j2 all' (or set GRPO_BIN)" >&2; exit 1; }
fi
if [ "$report" = 1 ]; then
  command -v gnuplot > /dev/null || { echo "scaling.sh: gnuplot not found: run 'bash deploy/install-deps.sh' as root" >&2; exit 1; }
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$out"

# run_point NAME NP LEARNERS LAYOUT ACTORS MODE ARGS...: one grpo train run
# of the grid, timed per rank (scaling_rank.sh) and as a whole (bash time of
# the launcher: with mpirun on one node that is every rank's CPU too)
run_point() {
  local name=$1 np=$2 k=$3 layout=$4 n=$5 mode=$6; shift 6
  local run=$out/$name async=0 start params
  [ "$mode" = async ] && async=1
  if [ "$resume" = 1 ] && [ -s "$out/$name.row" ]; then
    echo "== $name: row exists (-r): not run again"; return 0
  fi
  rm -rf "$run" "$out/$name.cpu" "$out/$name.cpu.d" "$out/$name.row"
  echo "== $name: $k learner(s), $n actor(s), $layout, $mode, np=$np"
  start=$(date +%s)
  local stat0="" stat1=""
  [ -r /proc/stat ] && stat0=$(head -n 1 /proc/stat)
  local TIMEFORMAT="total %R %U %S"
  # shellcheck disable=SC2086
  if ! { time $mpirun "$np_flag" "$np" bash "$here/scaling_rank.sh" "$out/$name.cpu.d" \
        "$bin" train run.dir="$run" grpo.init="$sft_ckpt" grpo.steps="$steps" "${extra_args[@]}" \
        grpo.async=$async grpo.max_staleness="$staleness" "$@" > "$run.log" 2>&1; } 2> "$out/$name.cpu.total"; then
    tail -n 20 "$run.log" >&2
    echo "scaling.sh: run failed: $name (log $run.log)" >&2
    exit 1
  fi
  [ -r /proc/stat ] && stat1=$(head -n 1 /proc/stat)
  cat "$out/$name.cpu.d"/rank-* "$out/$name.cpu.total" > "$out/$name.cpu" 2>/dev/null || true
  # the whole machine's busy and steal CPU seconds during the run (Linux
  # /proc/stat): busy minus the run's own is other work that shared the cores
  if [ -n "$stat0" ] && [ -n "$stat1" ]; then
    printf '%s\n%s\n' "$stat0" "$stat1" | awk -v hz="$(getconf CLK_TCK 2>/dev/null || echo 100)" '
      { b[NR] = $2 + $3 + $4 + $7 + $8; st[NR] = $9 }
      END { printf "machine %.2f %.2f\n", (b[2] - b[1]) / hz, (st[2] - st[1]) / hz }' >> "$out/$name.cpu"
  fi
  rm -rf "$out/$name.cpu.d" "$out/$name.cpu.total"
  params=$(sed -n 's/.* \([0-9][0-9]*\) parameters.*/\1/p' "$run.log" | head -n 1)
  awk -v actors="$n" -v mode="$mode" -v target="$target" -v learners="$k" -v layout="$layout" \
      -v params="$params" -v cores="$cores" -f "$here/scaling_summary.awk" \
      "$run/metrics.jsonl" "$run/summary.json" "$out/$name.cpu" > "$out/$name.row" ||
    { echo "scaling.sh: cannot summarise $run (metrics.jsonl or summary.json missing)" >&2; exit 1; }
  echo "   $(( $(date +%s) - start )) s: $(cat "$out/$name.row")"
}

skip() { echo "== skipped: $*" | tee -a "$out/skipped.txt"; }

if [ "$run_points" = 1 ]; then
  # the SFT start, shared by every run (array tasks take turns through a lock)
  if [ -z "$sft_ckpt" ]; then
    sft_ckpt=$out/sft/sft.ckpt
    exec 9> "$out/.sft.lock"
    flock 9
    if [ ! -s "$sft_ckpt" ]; then
      echo "== SFT -> $sft_ckpt${sft_steps:+ ($sft_steps steps)}"
      "$bin" sft run.dir="$out/sft" ${sft_steps:+sft.steps=$sft_steps} "${extra_args[@]}" \
        > "$out/sft.log" 2>&1 || { tail -n 20 "$out/sft.log" >&2; echo "scaling.sh: SFT failed (log $out/sft.log)" >&2; exit 1; }
    fi
    exec 9>&-
  fi
  [ -s "$sft_ckpt" ] || { echo "scaling.sh: no SFT checkpoint at $sft_ckpt" >&2; exit 1; }
  {
    echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(hostname) $(nproc) cores: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p')"
    echo "# learners='$learners' actors='$actors' colocated='$colocated' modes='$modes' workload='$workload'" \
         "steps=$steps sft=$sft_ckpt target=$target max_staleness=$staleness extra='$extra'"
  } >> "$out/command.txt"

  # a binary without the keys (before grpo.learners and grpo.layout) runs the K = 1 points only
  keys=$("$bin" config 2>&1 | awk '/^\[/ { sec = $1 } sec == "[grpo]" { print $1 }')
  has_key() { printf '%s\n' "$keys" | grep -qx "$1"; }
  for k in $learners; do
    for n in $actors; do
      for mode in $modes; do
        if [ "$k" -gt 1 ] && ! has_key learners; then
          skip "k$k-a$n-$mode: $bin has no grpo.learners key (a binary from before it)"
          continue
        fi
        if [ "$k" -gt 1 ] && [ "$mode" = async ] && [ "${ASYNC_MULTI:-0}" != 1 ]; then
          skip "k$k-a$n-async: grpo refuses async with more than one learner (sync only for now)"
          continue
        fi
        kargs=(); [ "$k" -gt 1 ] && kargs=(grpo.learners="$k")
        run_point "k$k-a$n-$mode" $((k + n)) "$k" separate "$n" "$mode" "${kargs[@]}"
      done
    done
  done
  for np in $colocated; do
    for mode in $modes; do
      if ! has_key layout; then
        skip "c$np-$mode: $bin has no grpo.layout key (a binary from before it)"
        continue
      fi
      if [ "$mode" = async ] && [ "${ASYNC_MULTI:-0}" != 1 ]; then
        skip "c$np-async: the colocated layout is sync only (each rank samples, then learns)"
        continue
      fi
      run_point "c$np-$mode" "$np" "$np" colocated "$np" "$mode" grpo.layout=colocated
    done
  done
fi

[ "$report" = 1 ] || exit 0

# the CSV: every row in OUT, separate before colocated, then by K, n, sync first
csv=$out/scaling.csv
awk -v header=1 -f "$here/scaling_summary.awk" > "$csv"
rows=("$out"/*.row)
[ -e "${rows[0]}" ] || { echo "scaling.sh: no grid point rows (*.row) in $out" >&2; exit 1; }
cat "${rows[@]}" | sort -t, -k21,21r -k20,20n -k1,1n -k2,2r >> "$csv"
echo "== $csv"
cat "$csv"
echo "== knee model"
bash "$here/scaling_model.sh" "$csv" "$out" "$cores"

# plot: the bases of the ideal lines and what the panels have to show
read -r base_sync base_async nmax n_tta have_k2 have_colo < <(awk -F, 'NR > 1 {
    if ($1 == 1 && $2 == "sync" && $20 == 1 && $21 == "separate") bs = $3
    if ($1 == 1 && $2 == "async" && $20 == 1 && $21 == "separate") ba = $3
    if ($1 > nm) nm = $1
    if ($9 != "") nt++
    if ($20 == 2 && $21 == "separate" && $2 == "sync") k2 = 1
    if ($21 == "colocated") co = 1 }
  END { printf "%s %s %d %d %d %d\n", bs == "" ? "NaN" : bs, ba == "" ? "NaN" : ba, nm, nt, k2, co }' "$csv")
cpu_model=$(sed -n 's/.* i\.e\. \([0-9.e+-]*\) completions per CPU-second.*/\1/p' "$out/model.txt")
gnuplot -e "csv='$csv'; model='$out/model.dat'; png='$out/scaling.png'; target='$target'; \
  cores='$cores'; base_sync=$base_sync; base_async=$base_async; nmax=$nmax; n_tta=$n_tta; \
  have_k2=$have_k2; have_colo=$have_colo; cpu_model=${cpu_model:-NaN}" \
  "$here/plot_scaling.gp"
echo "plot: $out/scaling.png"
