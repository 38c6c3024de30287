#!/usr/bin/env bash
# ppo_vs_grpo.sh: what the value model costs and buys. The same start, the
# same budget of generated completions, two algorithms, on two tasks:
#
#   verifiable (arith): SFT from the flawed demonstrator, then GRPO (groups
#     of G completions, the group mean as baseline) and PPO (one completion
#     per prompt, G times the prompts, a value model and GAE), both on
#     1 learner + 2 actors for STEPS steps of PROMPTS x G completions;
#     held-out greedy accuracy against wall time.
#   open-ended (review): SFT, comparison pairs from the SFT policy labelled
#     by the hidden preference (rm-data), a reward model (rm-train), then
#     GRPO and PPO against it (reward.scorers=rm:...); the hidden true
#     preference of the sampled completions (reported, never trained on)
#     against wall time, and the over-optimisation alarm.
#
# For every run: held-out accuracy (or true preference) against elapsed
# training time, completions and tokens generated, and the learner rank's
# peak resident memory (summary.json learner_peak_rss_mib). Results:
# OUT/results.tsv (one row per run), OUT/curves.tsv (every step of every
# run), OUT/table.txt and OUT/ppo_vs_grpo.png (gnuplot).
#
#   bash deploy/ppo_vs_grpo.sh                 # both tasks
#   TASKS=arith bash deploy/ppo_vs_grpo.sh     # one of them
# Env: OUT (runs/ppo_vs_grpo), GRPO_BIN (build/grpo), STEPS (arith: 150),
# REVIEW_STEPS (60), PROMPTS (16 prompts x G = 8 for GRPO; PPO gets
# PROMPTS x G prompts of 1), EXTRA (overrides for every train run), NP (3).
set -euo pipefail
cd "$(dirname "$0")/.."
GRPO=${GRPO_BIN:-build/grpo}
OUT=${OUT:-runs/ppo_vs_grpo}
TASKS=${TASKS:-arith review}
STEPS=${STEPS:-150}
REVIEW_STEPS=${REVIEW_STEPS:-60}
PROMPTS=${PROMPTS:-16}
G=${G:-8}
NP=${NP:-3}
read -r -a EXTRA_ARR <<<"${EXTRA:-}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
[ -x "$GRPO" ] || make -s -j2 build/grpo
mkdir -p "$OUT"

# Runs "$@" with its output in log $1 (first argument); stops on failure.
logged() {
    local log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        echo "ppo_vs_grpo.sh: failed: $*; its log, $log, ends:" >&2
        tail -n 8 "$log" >&2
        exit 1
    fi
}

# One training run: name, start checkpoint, algorithm, then overrides.
train() {
    local dir=$1 init=$2 algo=$3
    shift 3
    local shape=(grpo.prompts_per_step="$PROMPTS" grpo.group_size="$G")
    if [ "$algo" = ppo ]; then shape=(grpo.prompts_per_step=$((PROMPTS * G)) grpo.group_size=1); fi
    rm -rf "$dir"
    mkdir -p "$dir"
    echo "== $dir: $algo (${shape[*]})"
    # "$@" first: it may hold --config, and a config file applies where it
    # stands among the overrides (a later one wins)
    logged "$dir.log" mpirun --oversubscribe -np "$NP" "$GRPO" train "$@" run.dir="$dir" \
        grpo.init="$init" grpo.algo="$algo" "${shape[@]}" "${EXTRA_ARR[@]}"
    grep -E 'peak resident|over-optimisation' "$dir.log" | sed 's/^/  /' || true
}

for task in $TASKS; do
    case $task in
    arith)
        d=$OUT/arith
        mkdir -p "$d"
        if [ ! -f "$d/sft/sft.ckpt" ]; then
            echo "== $d/sft: SFT from the flawed demonstrator"
            logged "$d/sft.log" "$GRPO" sft run.dir="$d/sft"
        fi
        for algo in grpo ppo; do
            train "$d/$algo" "$d/sft/sft.ckpt" "$algo" grpo.steps="$STEPS"
        done
        ;;
    review)
        d=$OUT/review
        mkdir -p "$d"
        if [ ! -f "$d/sft/sft.ckpt" ]; then
            echo "== $d/sft: SFT on the review demonstrator"
            logged "$d/sft.log" "$GRPO" sft --config deploy/review.ini run.dir="$d/sft"
        fi
        if [ ! -f "$d/rm/rm.ckpt" ]; then
            echo "== $d/pairs.jsonl: comparisons of the SFT policy's samples, hidden preference"
            logged "$d/rm-data.log" "$GRPO" rm-data --config deploy/review.ini run.dir="$d/sft" \
                --checkpoint "$d/sft/sft.ckpt" --out "$d/pairs.jsonl"
            echo "== $d/rm: reward model (Bradley-Terry), started from the SFT policy"
            logged "$d/rm.log" "$GRPO" rm-train --config deploy/review.ini run.dir="$d/rm" \
                rm.init="$d/sft/sft.ckpt" --data "$d/pairs.jsonl" --eval "$d/pairs.eval.jsonl"
            grep -i 'held-out' "$d/rm.log" | tail -n 1 | sed 's/^/  /'
        fi
        rm_args=(--config deploy/review.ini reward.scorers="rm:$d/rm/rm.ckpt:1" grpo.steps="$REVIEW_STEPS")
        train "$d/grpo" "$d/sft/sft.ckpt" grpo "${rm_args[@]}"
        train "$d/ppo" "$d/sft/sft.ckpt" ppo "${rm_args[@]}" ppo.value_init="$d/rm/rm.ckpt"
        # made to over-optimise: no KL to the reference, four times the steps
        train "$d/ppo_beta0" "$d/sft/sft.ckpt" ppo "${rm_args[@]}" ppo.value_init="$d/rm/rm.ckpt" \
            grpo.beta=0 grpo.steps=$((REVIEW_STEPS * 4))
        ;;
    *)
        echo "ppo_vs_grpo.sh: unknown task '$task' in TASKS (arith, review)" >&2
        exit 2 ;;
    esac
done

# every task run so far, not only this call's: the table and figure hold both
done_tasks=$(for t in arith review; do [ -d "$OUT/$t" ] && printf '%s ' "$t"; done)
python3 deploy/ppo_vs_grpo_table.py "$OUT" $done_tasks | tee "$OUT/table.txt"
gnuplot -e "dir='$OUT'" deploy/ppo_vs_grpo.gp && echo "plot: $OUT/ppo_vs_grpo.png"
