#!/usr/bin/env bash
# The short-answer demo (the main job before the R1 pipeline), on localhost:
# install what is missing, build, supervised
# warm start from the task's imperfect demonstrator, then GRPO with the
# verifier on 1 learner + 2 actors, then the table of held-out accuracy
# (demonstrator, SFT model, GRPO model) and the plot's path.
# Extra arguments are config overrides for both stages, e.g.
#   bash deploy/demo_arith.sh grpo.steps=50 run.dir=runs/quick
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then WITH_SLURM=0 bash deploy/install-deps.sh >/dev/null; fi
make -s -j2 build/grpo
dir=runs/demo-arith
for a in "$@"; do case "$a" in run.dir=*) dir=${a#run.dir=} ;; esac; done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf "$dir"
start=$(date +%s)
echo "== 1/2 supervised warm start (imperfect demonstrator) -> $dir/sft.ckpt"
build/grpo sft run.dir="$dir" "$@"
echo "== 2/2 GRPO: 1 learner + 2 actors (mpirun -np 3)"
mpirun --oversubscribe -np 3 build/grpo train run.dir="$dir" "$@"
echo "== main job wall time: $(( $(date +%s) - start )) s"
