#!/usr/bin/env bash
# The code task's demo on localhost: build, supervised warm start from the
# task's imperfect demonstrator (it writes "last N" as x[N:] 60% of the
# time), then GRPO with the sandboxed hidden-test verifier on 1 learner +
# 2 actors, then held-out accuracy of the demonstrator, the SFT model and
# the GRPO model. Needs the sandbox (root, or unprivileged user
# namespaces) and /usr/bin/python3. Settings: deploy/code.ini; extra
# arguments are config overrides for both stages, e.g.
#   bash deploy/demo_code.sh grpo.steps=20 run.dir=runs/quick
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then WITH_SLURM=0 bash deploy/install-deps.sh >/dev/null; fi
make -s -j2 build/grpo
dir=runs/demo-code
for a in "$@"; do case "$a" in run.dir=*) dir=${a#run.dir=} ;; esac; done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf "$dir"
start=$(date +%s)
echo "== 1/3 supervised warm start (imperfect demonstrator) -> $dir/sft.ckpt"
build/grpo sft --config deploy/code.ini run.dir="$dir" "$@"
sft_end=$(date +%s)
echo "== 2/3 GRPO: 1 learner + 2 actors (mpirun -np 3), programs verified in the sandbox"
mpirun --oversubscribe -np 3 build/grpo train --config deploy/code.ini run.dir="$dir" "$@"
end=$(date +%s)
echo "== 3/3 held-out evaluation of the SFT model (the GRPO model's is the train run's last line)"
build/grpo eval --config deploy/code.ini run.dir="$dir" "$@" --checkpoint "$dir/sft.ckpt"
echo "== wall time: sft $(( sft_end - start )) s, grpo $(( end - sft_end )) s"
# the share of each GRPO step the actors spent verifying (metrics.jsonl)
awk -F'[:,]' '{for (i = 1; i < NF; i++) { if ($i ~ /"t_verify"/) v += $(i+1); if ($i ~ /"step_s"/) s += $(i+1) }}
     END { if (s > 0) printf "== verification: %.1f s of %.1f s of steps (%.0f%%)\n", v, s, 100 * v / s }' \
    "$dir/metrics.jsonl"
