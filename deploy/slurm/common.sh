# shellcheck shell=bash
# Shared by the grpo_*.sbatch scripts beside this file (sourced, not run).
#
# The requeue-on-signal contract (what the batch scripts rely on):
#   - `grpo train` exits 0 only when the run is finished (grpo.steps reached,
#     final.ckpt and summary.json written).
#   - On SIGUSR1 or SIGTERM the learner finishes the step in progress, writes
#     a training checkpoint into <run.dir> (latest.ckpt, or ckpt-<step>.ckpt
#     in the learner's run_state design) and exits 75 (EX_TEMPFAIL,
#     "checkpointed, not finished"; EXIT_REQUEUE in learner.h). Every rank
#     must survive the signal until the learner stops it.
#     A second copy of the signal (scancel --full reaches the ranks directly
#     and through mpirun) must be harmless.
#   - A new `grpo train` with the same run.dir and arguments resumes from
#     the newest training checkpoint there by itself (and deletes the temp
#     files of checkpoint writes that a kill cut short).
#
# grpo_launch runs the launcher (mpirun or srun) in the background so that the
# batch shell's traps run at once, passes USR1/TERM on to it as USR1, waits for
# it, and if it was stopped by a signal (or exited 75) without finishing,
# requeues the job with `scontrol requeue $SLURM_JOB_ID` -- only while
# slurmctld still has the job RUNNING: a TERM from scancel or the time limit is
# passed on (so the learner checkpoints) but does not requeue. SLURM then holds
# the requeued job for about two minutes before it starts again (credential
# expiry); the next incarnation sees SLURM_RESTART_COUNT incremented, and
# --open-mode=append keeps every incarnation's output in one file.
#
# mpirun and SIGTERM: Open MPI 4.1's mpirun forwards USR1 to every rank as it
# is, but a TERM of its own makes it kill the job: SIGCONT, then SIGTERM one
# odls_base_sigkill_timeout (1 s) later, SIGKILL one more later, and exit 1
# (a second TERM makes that immediate). ess_base_forward_signals cannot
# include TERM. A training checkpoint of a ~20M-parameter model takes longer
# than that, so the ranks would die mid-write. Hence (a) the trap sends USR1,
# never TERM, and (b) GRPO_MPIRUN starts mpirun with SIGTERM blocked: slurmd
# sends TERM to every process of the job at the time limit, on scancel and on
# preemption, and mpirun must not act on it; the ranks get the same TERM
# directly (Open MPI unblocks signals in the ranks it starts), the learner
# checkpoints and exits 75, and mpirun exits with that status. If the ranks
# hang, SLURM's SIGKILL after KillWait still ends everything. The
# checkpoint must be on disk before KillWait (scontrol show config): the
# learner writes it after the step in progress (see learner.c). srun cannot
# be shielded this way (see grpo_multi_node.sbatch).

GRPO_EX_CHECKPOINTED=75

# The mpirun command for grpo_launch (see "mpirun and SIGTERM" above); GNU env
# execs mpirun with the signal blocked (coreutils 8.31+).
# shellcheck disable=SC2034 # used by the sbatch scripts that source this file
GRPO_MPIRUN=(env --block-signal=TERM mpirun)

# grpo_slurm_init NAME: banner with the incarnation, OMPI root variables,
# GRPO_ROOT / GRPO_BIN (defaults: the submit dir and its build/grpo), and the
# USR1/TERM traps (installed first thing: without a trap, USR1 kills bash).
grpo_slurm_init() {
  GRPO_JOB_NAME=$1
  trap '_grpo_on_signal USR1' USR1
  trap '_grpo_on_signal TERM' TERM
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  GRPO_ROOT=${GRPO_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}
  GRPO_BIN=${GRPO_BIN:-$GRPO_ROOT/build/grpo}
  export GRPO_ROOT GRPO_BIN
  env --block-signal=TERM true 2>/dev/null || {
    echo "$GRPO_JOB_NAME: 'env --block-signal' is missing (GNU coreutils 8.31 or newer):" \
         "without it a SIGTERM would make mpirun kill the ranks before they checkpoint" >&2
    exit 1
  }
  cd "$GRPO_ROOT" || { echo "$GRPO_JOB_NAME: cannot cd to GRPO_ROOT=$GRPO_ROOT" >&2; exit 1; }
  [ -x "$GRPO_BIN" ] || {
    echo "$GRPO_JOB_NAME: $GRPO_BIN is missing: run 'make -j2 all' in $GRPO_ROOT, or set GRPO_BIN" >&2
    exit 1
  }
  echo "=== $(date '+%F %T') $GRPO_JOB_NAME: job ${SLURM_JOB_ID:-?}${SLURM_ARRAY_TASK_ID:+ (array task $SLURM_ARRAY_TASK_ID)}" \
       "SLURM_RESTART_COUNT=${SLURM_RESTART_COUNT:-0} nodes=${SLURM_JOB_NODELIST:-?}" \
       "ntasks=${SLURM_NTASKS:-?} host=$(hostname -s)"
}

# grpo_arg_value KEY ARGS...: the value of the last KEY=value among ARGS, or "".
grpo_arg_value() {
  local key=$1 a v=""; shift
  for a in "$@"; do [[ "$a" == "$key="* ]] && v=${a#"$key="}; done
  printf '%s' "$v"
}

# grpo_sft_if_missing RUN_DIR ARGS...: writes RUN_DIR/sft.ckpt with
# `grpo sft` (under grpo_launch: a signal requeues the job, and the next
# incarnation runs SFT again) unless it exists or ARGS set grpo.init (a start
# checkpoint of its own). ARGS go to sft too, so model.* keys match the train
# run. Array tasks sharing one RUN_DIR take turns through a lock file.
grpo_sft_if_missing() {
  local dir=$1 rc=0; shift
  if [ -n "$(grpo_arg_value grpo.init "$@")" ]; then return 0; fi
  mkdir -p "$dir"
  exec 9>"$dir/.sft.lock"
  flock 9
  if [ -f "$dir/sft.ckpt" ]; then
    echo "$GRPO_JOB_NAME: $dir/sft.ckpt exists: no SFT"
  else
    echo "$GRPO_JOB_NAME: no $dir/sft.ckpt: running grpo sft"
    grpo_launch "$GRPO_BIN" sft "$@" run.dir="$dir" || rc=$?
  fi
  exec 9>&-   # unlock; the train ranks do not inherit the lock
  return "$rc"
}

_grpo_child=0
_grpo_signal=""
_grpo_interrupted=0
_grpo_requeued=0
_grpo_elastic=0   # 1 while grpo_launch_elastic runs grpo_launch
_grpo_lost=0      # grpo_launch saw exit 75 with a rank killed by a signal
_grpo_err_file="" # this shell's stderr, a regular file (the job's -e file), or ""
_grpo_err_off=0   # its size when the launch began

# _grpo_err_mark: notes where this shell's stderr file ends now, so that
# _grpo_launcher_saw_signal_death reads only what the launch wrote.
_grpo_err_mark() {
  _grpo_err_file=$(readlink "/proc/$$/fd/2" 2>/dev/null) || _grpo_err_file=""
  if [ -n "$_grpo_err_file" ] && [ -f "$_grpo_err_file" ]; then
    _grpo_err_off=$(stat -c %s "$_grpo_err_file" 2>/dev/null) || _grpo_err_off=0
  else
    _grpo_err_file=""
  fi
}

# _grpo_launcher_saw_signal_death: true when the launcher wrote, since
# _grpo_err_mark, that a rank died of a signal: srun's "srun: error: NODE:
# task 2: Killed" (any such line other than "Exited with exit code N") or
# mpirun's "mpirun noticed that process rank 2 ... exited on signal 9".
_grpo_launcher_saw_signal_death() {
  local lines
  [ -n "$_grpo_err_file" ] || return 1
  lines=$(tail -c +$((_grpo_err_off + 1)) "$_grpo_err_file" 2>/dev/null |
          grep -E '^srun: error: [^ ]+: tasks? [0-9,-]+: |^mpirun noticed that process rank [0-9]+ .* exited on signal' || true)
  [ -n "$lines" ] && grep -qv ': Exited with exit code ' <<< "$lines"
}

_grpo_on_signal() {
  local sig=$1
  if [ "$_grpo_requeued" = 1 ]; then
    # scontrol requeue signals the job it requeues: nothing left to do
    echo "$(date '+%F %T') $GRPO_JOB_NAME: SIG$sig after requeue: exiting"
    exit 0
  fi
  _grpo_signal=$sig
  _grpo_interrupted=1
  if [ "$_grpo_child" != 0 ]; then
    # USR1 for either: mpirun would kill the ranks on a TERM (see above), and
    # the learner treats both alike
    echo "$(date '+%F %T') $GRPO_JOB_NAME: SIG$sig received: sending SIGUSR1 to pid $_grpo_child"
    kill -s USR1 "$_grpo_child" 2>/dev/null || true
  else
    echo "$(date '+%F %T') $GRPO_JOB_NAME: SIG$sig received between steps: requeue before the next one"
  fi
}

# _grpo_requeue WHY: `scontrol requeue` this job and exit; returns 1 if that
# failed or if slurmctld no longer has the job RUNNING. `scontrol requeue`
# also revives finished jobs, so a TERM from scancel (job CANCELLED) or from
# the time limit (TIMEOUT) must not requeue: only a job that is still running
# (USR1 from --signal or `scancel --signal`, or exit 75) goes back to the queue.
_grpo_requeue() {
  local state
  state=$(scontrol show job -o "$SLURM_JOB_ID" 2>/dev/null | grep -o 'JobState=[A-Z_]*')
  state=${state#JobState=}
  if [ "$state" != RUNNING ]; then
    echo "$(date '+%F %T') $GRPO_JOB_NAME: stopped by $1; job state ${state:-unknown}: not requeued"
    return 1
  fi
  echo "$(date '+%F %T') $GRPO_JOB_NAME: stopped by $1 before the end:" \
       "scontrol requeue $SLURM_JOB_ID (the next run resumes from its checkpoint)"
  _grpo_requeued=1
  if scontrol requeue "$SLURM_JOB_ID"; then exit 0; fi
  _grpo_requeued=0
  echo "$GRPO_JOB_NAME: scontrol requeue $SLURM_JOB_ID failed" >&2
  return 1
}

# grpo_launch CMD...: runs CMD under the requeue-on-signal pattern above.
# Returns 0 when CMD finished with 0; requeues and exits the shell when CMD
# was stopped by a signal (or exited 75); otherwise returns CMD's status (a
# failure: no requeue).
grpo_launch() {
  if [ -n "$_grpo_signal" ]; then _grpo_requeue "SIG$_grpo_signal" || return 1; fi
  echo "$(date '+%F %T') $GRPO_JOB_NAME: $*"
  "$@" &
  _grpo_child=$!
  local rc
  while :; do
    _grpo_interrupted=0
    wait "$_grpo_child"
    rc=$?
    # wait returns >128 at once when a trapped signal arrives; the child's own
    # status is still kept by bash for the next wait
    [ "$_grpo_interrupted" = 1 ] || break
  done
  _grpo_child=0
  if [ "$rc" = 0 ]; then
    echo "$(date '+%F %T') $GRPO_JOB_NAME: finished (exit 0)"
    return 0
  fi
  if [ -n "$_grpo_signal" ]; then _grpo_requeue "SIG$_grpo_signal (exit $rc)" || return "$rc"; fi
  if [ "$rc" = "$GRPO_EX_CHECKPOINTED" ]; then
    # under srun a lost rank can end the step with the learner's 75 (srun
    # reports an exit code before a signal): not a requeue, a relaunch
    if [ "$_grpo_elastic" = 1 ] && _grpo_launcher_saw_signal_death; then
      echo "$(date '+%F %T') $GRPO_JOB_NAME: exit $rc, but the launcher reported a rank killed by" \
           "a signal: a rank was lost (not requeued)" >&2
      _grpo_lost=1
      return "$rc"
    fi
    _grpo_requeue "exit $rc" || return "$rc"
  fi
  if [ "$rc" -gt 128 ] && [ "$rc" -lt 192 ]; then
    echo "$(date '+%F %T') $GRPO_JOB_NAME: failed with exit $rc: a rank died of" \
         "SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128))) (no signal seen by this shell: not requeued)" >&2
  else
    echo "$(date '+%F %T') $GRPO_JOB_NAME: failed with exit $rc (no signal seen: not requeued)" >&2
  fi
  return "$rc"
}

# Elastic resume: when an actor rank dies (kill -9, the OOM killer, a lost
# node), mpirun (srun --kill-on-bad-exit) stops the other ranks and exits
# 128+signal (mpirun: 137 for a SIGKILL, "process rank 2 ... exited on signal
# 9"; srun sometimes 75, see below). The learner, stuck waiting for that
# actor (its groups, the weight broadcast), writes the checkpoint of its
# last completed step on the SIGTERM that comes first (mpirun: 1 s before
# the SIGKILL; srun: KillWait before). grpo_launch_elastic then relaunches the run
# inside the same allocation with the ranks that are left, and `grpo train`
# resumes from that checkpoint (sampling is keyed by seed, step, prompt and
# completion, not by rank, so any actor count resumes it; in sync mode bit
# for bit). Open MPI 4.1 has no ULFM: the world cannot shrink in place, so
# every rank is restarted.
#
# grpo_launch_elastic RUN_DIR RANKS CMD...: grpo_launch CMD with each
# "{ranks}" in its arguments replaced by RANKS and each "{nodes}" by the node
# count. While the launcher ends with a signal status (129-191: a rank was
# lost; or 75 when the launcher's own messages on this shell's stderr say a
# rank died of a signal, as srun's do when the learner's 75 reaches it
# first) and no signal reached this shell, the job is still RUNNING, RUN_DIR
# holds a training checkpoint, fewer than GRPO_MAX_RELAUNCH (default 3)
# relaunches were made and enough ranks are left (2: learner + 1 actor; K+1
# with grpo.learners=K, 1 with grpo.layout=colocated, when given as
# arguments; a config file's values are not read), it
# prints "rank lost: relaunching with N ranks" and runs CMD again with N
# ranks. Any other failure is returned as grpo_launch returns it (75 still
# requeues; 0 returns 0).
grpo_launch_elastic() {
  local dir=$1 ranks=$2; shift 2
  local max=${GRPO_MAX_RELAUNCH:-3} relaunches=0 rc a state floor=2 learners
  # the fewest ranks grpo train runs with: a learner and an actor; K+1 with
  # grpo.learners=K; 1 with grpo.layout=colocated (every rank acts and learns)
  learners=$(grpo_arg_value grpo.learners "$@")
  if [ "$(grpo_arg_value grpo.layout "$@")" = colocated ]; then floor=1
  elif [[ "$learners" =~ ^[0-9]+$ ]] && [ "$learners" -gt 1 ]; then floor=$((learners + 1)); fi
  local nodes=${SLURM_JOB_NUM_NODES:-${SLURM_NNODES:-1}}
  [[ "$max" =~ ^[0-9]+$ ]] || { echo "$GRPO_JOB_NAME: GRPO_MAX_RELAUNCH=$max is not a number" >&2; return 2; }
  while :; do
    local cmd=()
    for a in "$@"; do a=${a//\{ranks\}/$ranks}; cmd+=("${a//\{nodes\}/$nodes}"); done
    rc=0
    _grpo_err_mark
    _grpo_elastic=1 _grpo_lost=0
    grpo_launch "${cmd[@]}" || rc=$?
    _grpo_elastic=0
    [ "$rc" = 0 ] && return 0
    # a signal to this shell (scancel, time limit) is grpo_launch's business
    [ -z "$_grpo_signal" ] || return "$rc"
    { [ "$rc" -gt 128 ] && [ "$rc" -lt 192 ]; } || [ "$_grpo_lost" = 1 ] || return "$rc"
    if [ "$relaunches" -ge "$max" ]; then
      echo "$(date '+%F %T') $GRPO_JOB_NAME: rank lost (exit $rc) after $relaunches" \
           "relaunches (GRPO_MAX_RELAUNCH=$max): giving up" >&2
      return "$rc"
    fi
    if ! compgen -G "$dir/ckpt-*.ckpt" > /dev/null && [ ! -f "$dir/latest.ckpt" ]; then
      echo "$(date '+%F %T') $GRPO_JOB_NAME: rank lost (exit $rc) but $dir holds no training" \
           "checkpoint: not relaunched" >&2
      return "$rc"
    fi
    if [ -n "${SLURM_JOB_ID:-}" ]; then
      state=$(scontrol show job -o "$SLURM_JOB_ID" 2>/dev/null | grep -o 'JobState=[A-Z_]*')
      state=${state#JobState=}
      if [ "$state" != RUNNING ]; then
        echo "$(date '+%F %T') $GRPO_JOB_NAME: rank lost (exit $rc); job state ${state:-unknown}:" \
             "not relaunched" >&2
        return "$rc"
      fi
    fi
    _grpo_ranks_left "$ranks" "$nodes"
    if [ "$_grpo_left_ranks" -lt "$floor" ]; then
      echo "$(date '+%F %T') $GRPO_JOB_NAME: rank lost (exit $rc) with $ranks ranks: fewer than" \
           "$floor (the learners and an actor) would be left: not relaunched" >&2
      return "$rc"
    fi
    relaunches=$((relaunches + 1))
    ranks=$_grpo_left_ranks nodes=$_grpo_left_nodes
    echo "$(date '+%F %T') $GRPO_JOB_NAME: rank lost: relaunching with $ranks ranks" \
         "(exit $rc; relaunch $relaunches of at most $max${_grpo_left_why:+; $_grpo_left_why})"
  done
}

# _grpo_ranks_left RANKS NODES: sets _grpo_left_ranks / _grpo_left_nodes to
# the ranks and nodes to relaunch with after a rank of a RANKS-rank launch on
# NODES nodes was lost. One node: RANKS - 1 (the node is still there; a
# process died). Several nodes: at most RANKS - 1, and no more than the
# nodes slurmctld still lists for the job (scontrol show job: a failed node
# is removed from a --no-kill job) and does not report down, failed or not
# responding (sinfo), times the tasks per node of the first launch.
_grpo_ranks_left() {
  local ranks=$1 nodes=$2 h st list live=0 per
  _grpo_left_ranks=$((ranks - 1)) _grpo_left_nodes=$nodes _grpo_left_why=""
  [ "$nodes" -gt 1 ] && [ -n "${SLURM_JOB_ID:-}" ] || return 0
  list=$(scontrol show job -o "$SLURM_JOB_ID" 2>/dev/null | grep -o ' NodeList=[^ ]*')
  list=${list# NodeList=}
  [ -n "$list" ] && [ "$list" != "(null)" ] || return 0
  for h in $(scontrol show hostnames "$list" 2>/dev/null); do
    st=$(sinfo -h -N -n "$h" -o %T 2>/dev/null | head -n 1)
    case "$st" in
      ""|*'*'|down*|fail*|unknown*|not_responding*|power*) ;;
      *) live=$((live + 1)) ;;
    esac
  done
  [ "$live" -gt 0 ] || return 0   # nothing usable learned: the one-fewer rule
  per=$(( (${SLURM_NTASKS:-$ranks} + ${SLURM_JOB_NUM_NODES:-$nodes} - 1) / ${SLURM_JOB_NUM_NODES:-$nodes} ))
  if [ $((live * per)) -lt "$_grpo_left_ranks" ]; then _grpo_left_ranks=$((live * per)); fi
  _grpo_left_nodes=$(( live < _grpo_left_ranks ? live : _grpo_left_ranks ))
  [ "$_grpo_left_nodes" -ge 1 ] || _grpo_left_nodes=1
  _grpo_left_why="$live of ${SLURM_JOB_NUM_NODES:-$nodes} nodes usable"
}
