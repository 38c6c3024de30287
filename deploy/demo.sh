#!/usr/bin/env bash
# The main job, on localhost: install what is missing, build, then the
# DeepSeek-R1 recipe from nothing on the reasoning version of arithmetic
# (grpo pipeline --config deploy/pipeline.ini): the second task's own SFT
# (the reference), a cold start on 20,000 flawed demonstrations, GRPO on 4
# colocated ranks (each acts, then learns), rejection sampling, SFT on the samples mixed with the
# second task, a final RL stage with a hybrid reward, distillation into a
# quarter-size student (SFT on the final teacher's verified samples); then
# the table and runs/demo/pipeline.png (about 5 minutes on 2 cores).
# The pipeline resumes: run it again after an interruption and finished
# stages are skipped. --fresh starts over. Extra arguments are config
# overrides, e.g.  bash deploy/demo.sh pipeline.grpo=grpo.steps=50
set -euo pipefail
cd "$(dirname "$0")/.."
fresh=0
args=()
for a in "$@"; do if [ "$a" = --fresh ]; then fresh=1; else args+=("$a"); fi; done
if [ "$(id -u)" = 0 ]; then WITH_SLURM=0 bash deploy/install-deps.sh >/dev/null; fi
make -s -j2 build/grpo
dir=runs/demo
for a in "${args[@]}"; do case "$a" in run.dir=*) dir=${a#run.dir=} ;; esac; done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if [ "$fresh" = 1 ]; then rm -rf "$dir"; fi
start=$(date +%s)
build/grpo pipeline --config deploy/pipeline.ini "${args[@]}"
echo "== main job wall time: $(( $(date +%s) - start )) s (the table's stage times exclude the build)"
