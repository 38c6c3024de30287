#!/usr/bin/env bash
# think_vs_direct.sh: does the thinking help? Two models of the same shape
# and seed, trained by `grpo sft` on the same streamed arith_cot items and
# the same flawed demonstrator (it drops the first needed carry with
# probability task.cot_demo_error, and both answer what that flawed line
# reaches): one imitates the worked completion (task.cot_think=1,
# <think>...</think><answer>N</answer>), the other the answer alone
# (task.cot_think=0, <answer>N</answer>). Compute is matched as training
# tokens (BOS + prompt + completion + EOS): a direct sequence is ~3x
# shorter, so the direct model trains steps x (mean worked sequence / mean
# direct sequence) steps, further along the same item stream. The ratio is
# measured, not assumed: the worked run's own token count, over the mean
# direct sequence of a probe (a throw-away sft of a tiny model on the first
# PROBE_STEPS batches of the direct stream). Equal tokens is not equal
# FLOPs: a batch is padded to its longest row, and worked rows vary more in
# length, so the table also shows the positions the forward pass ran and
# the wall time.
#
#   bash deploy/think_vs_direct.sh [section.key=value ...]
#   bash deploy/think_vs_direct.sh sft.steps=800 model.dim=64 model.n_layers=2 model.hidden_dim=176
#
# Every override goes to both runs (and the probe's task and batch); the
# script sets task.name, task.cot_think and run.dir itself. Defaults here:
# sft.steps=1000 (the worked model's steps), sft.eval_every=0 (no
# evaluation inside the timed training), model.max_seq_len=192 for both
# (RoPE has no position parameters: the shape is the same either way),
# sampler.max_new_tokens 180 (worked) and 24 (direct: anything longer than
# <answer>NNNNN</answer> fails the format anyway). Env: OUT (run
# directories and logs, runs/think_vs_direct), GRPO_BIN (build/grpo),
# PROBE_STEPS (50). Writes OUT/{worked,direct,probe}/sft.ckpt (its META
# record holds the effective config), OUT/*.log and OUT/table.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
GRPO=${GRPO_BIN:-build/grpo}
OUT=${OUT:-runs/think_vs_direct}
PROBE_STEPS=${PROBE_STEPS:-50}

steps=1000
for a in "$@"; do
    case $a in
    task.name=* | task.cot_think=* | run.dir=*)
        echo "think_vs_direct.sh: '$a': the script sets ${a%%=*} itself (task.name=arith_cot," \
             "task.cot_think=1 and 0, run.dir under OUT=$OUT)" >&2
        exit 2 ;;
    sft.steps=*) steps=${a#sft.steps=} ;;
    *.*=*) ;;
    *)
        echo "think_vs_direct.sh: '$a' is not section.key=value" \
             "(usage: bash deploy/think_vs_direct.sh [section.key=value ...])" >&2
        exit 2 ;;
    esac
done
case $steps in
'' | *[!0-9]* | 0) echo "think_vs_direct.sh: sft.steps=$steps: expected a whole number >= 1" >&2; exit 2 ;;
esac
[ -x "$GRPO" ] || make -s -j2 build/grpo
mkdir -p "$OUT"

base=(task.name=arith_cot model.max_seq_len=192 sft.eval_every=0 sft.steps=1000)

trained() { grep '^sft: trained in' "$1" | tail -n 1; }
# The mean sequence length on the trained line of log $1.
mean_seq() { trained "$1" | sed -n 's/.*(mean sequence \([0-9.]*\) tokens.*/\1/p'; }
# N in "... N $2" on the trained line of log $1 (sequences, tokens, positions).
count() {
    trained "$1" | sed -n 's/.* \([0-9][0-9]*\) '"$2"'.*/\1/p'
}

# Runs one sft into OUT/$1 with the rest as overrides; its log is OUT/$1.log.
run_sft() {
    local name=$1
    shift
    local t0 t1
    t0=$(date +%s.%N)
    if ! "$GRPO" sft "$@" run.dir="$OUT/$name" >"$OUT/$name.log" 2>&1; then
        echo "think_vs_direct.sh: the $name run failed; its log, $OUT/$name.log, ends:" >&2
        tail -n 5 "$OUT/$name.log" >&2
        exit 1
    fi
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", b - a }' >"$OUT/$name.wall"
    trained "$OUT/$name.log" | sed 's/^/  /'
}

echo "== probe: the mean direct sequence, from the first $PROBE_STEPS batches of the direct stream (tiny model)"
run_sft probe "${base[@]}" sampler.max_new_tokens=24 "$@" task.cot_think=0 \
    sft.steps="$PROBE_STEPS" model.dim=8 model.n_layers=1 model.n_heads=1 model.n_kv_heads=1 \
    model.hidden_dim=8 eval.prompts=1 eval.pass_k=1
mean_direct=$(mean_seq "$OUT/probe.log")

echo "== worked (task.cot_think=1): $steps steps"
run_sft worked "${base[@]}" sampler.max_new_tokens=180 "$@" task.cot_think=1
mean_worked=$(mean_seq "$OUT/worked.log")
tokens_worked=$(count "$OUT/worked.log" tokens)

read -r ratio direct_steps < <(awk -v w="$mean_worked" -v d="$mean_direct" -v s="$steps" \
    'BEGIN { if (d <= 0) exit 1; r = w / d; n = int(s * r + 0.5); printf "%.4f %d\n", r, n < 1 ? 1 : n }')
echo "== compute: mean sequence $mean_worked tokens worked (its $tokens_worked tokens in $steps steps)," \
     "$mean_direct direct: ratio $ratio, so the direct model trains $direct_steps steps"

echo "== direct (task.cot_think=0): $direct_steps steps"
run_sft direct "${base[@]}" sampler.max_new_tokens=24 "$@" task.cot_think=0 sft.steps="$direct_steps"

# The number after "$2 " on the last held-out line of log $1.
heldout() {
    grep 'held-out on' "$1" | tail -n 1 | sed -n 's/.*'"$2"' \([0-9.][0-9.]*\).*/\1/p'
}
row() { # name label steps
    local log="$OUT/$1.log"
    printf '%-22s %7s %11s %11s %8s %7s %7s %7s %8s %7s %8s\n' "$2" "$3" \
        "$(count "$log" tokens)" "$(count "$log" positions)" \
        "$(trained "$log" | sed -n 's/^sft: trained in \([0-9.]*\) s.*/\1/p')" \
        "$(cat "$OUT/$1.wall")" "$(heldout "$log" 'greedy accuracy')" \
        "$(heldout "$log" format)" "$(heldout "$log" 'sampled accuracy')" \
        "$(heldout "$log" 'pass@[0-9]*')" "$(heldout "$log" 'mean length')"
}
{
    params=$(grep '^sft: [0-9]* parameters' "$OUT/worked.log" | sed 's/^sft: \([0-9]*\) parameters (\([^)]*\)).*/\1 parameters, \2/')
    prompts=$(grep 'held-out on' "$OUT/worked.log" | tail -n 1 | sed -n 's/.*held-out on \([0-9]*\) distinct.*/\1/p')
    echo "think vs direct: arith_cot, one model shape ($params), one seed, the same item stream;"
    echo "the same training tokens (ratio $ratio); held-out on $prompts distinct prompts"
    printf '%-22s %7s %11s %11s %8s %7s %7s %7s %8s %7s %8s\n' model steps tokens positions \
        train_s wall_s greedy format sampled pass@k mean_len
    row worked "worked (<think>)" "$steps"
    row direct "direct (answer only)" "$direct_steps"
} | tee "$OUT/table.txt"
