# scaling_summary.awk: one CSV row for one `grpo train` run of the scaling
# study (deploy/scaling.sh). POSIX awk (mawk and gawk both work): the inputs
# are flat JSON written by the project itself (learner/metrics.c,
# learner/learner.c), so a field is found by its "key": prefix, no parser.
#
#   awk -v actors=N -v mode=sync|async -v target=0.9 \
#       [-v learners=K -v layout=separate|colocated -v params=P -v cores=C] \
#       -f deploy/scaling_summary.awk RUN/metrics.jsonl RUN/summary.json [RUN.cpu]
#   awk -v header=1 -f deploy/scaling_summary.awk      (the header line only)
#
# RUN.cpu (optional; deploy/scaling.sh writes it) holds the CPU times: one
# line "RANK USER_S SYS_S WALL_S" per rank (deploy/scaling_rank.sh) and one
# line "total WALL_S USER_S SYS_S" for the launcher and all its children
# (bash `time` of mpirun), and optionally "machine BUSY_S STEAL_S": the
# whole machine's busy and hypervisor-steal CPU seconds during the run
# (/proc/stat). Without it the CPU columns are empty.
#
# Columns (SCALING.md explains each one):
#   actors,mode,completions_per_s,gen_tok_per_s,learner_tok_per_s,
#   learner_busy_frac,actor_idle_frac,staleness_mean,time_to_target_s,
#   wire_bytes,wire_bytes_per_gen_tok,final_acc,
#   steps,groups_per_step,group_size,train_s,gen_groups_per_actor_s,
#   t_learn_step_s,t_bcast_step_s,
#   learners,layout,ranks,params,wall_s,cpu_s_total,cpu_s_ranks,
#   cpu_s_learner,cpu_s_actor,busy_s_learner,busy_s_actor,busy_s_ranks,
#   cpu_util,completions_per_cpu_s,steal_s,other_cpu_s,t_allreduce_step_s
# Columns 13-19 (and learners, layout, params) are the inputs of the knee
# model (deploy/scaling_model.sh). Learner ranks are 0..learners-1 and actor
# ranks the rest (layout=separate); with layout=colocated every rank does
# both, and "actors" is the number of ranks. Busy seconds are the sum of a
# rank's phase timers other than wait (summary.json "phases", whatever
# phases it holds: generate, verify, send, learn, bcast, eval, ...): wall
# seconds spent working, which oversubscription inflates; CPU seconds do not.
# Prints nothing and exits 1 if the run left no step lines or no summary.

# Value of numeric field key in the flat JSON object s ("" if absent).
function num(s, key,    i, rest) {
    i = index(s, "\"" key "\":")
    if (i == 0) return ""
    rest = substr(s, i + length(key) + 3)
    if (match(rest, /^-?[0-9.eE+-]+/) == 0) return ""
    return substr(rest, 1, RLENGTH) + 0
}

# Splits the numeric array field key of s into out[1..n]; returns n.
function arr(s, key, out,    i, rest, n) {
    i = index(s, "\"" key "\":[")
    if (i == 0) return 0
    rest = substr(s, i + length(key) + 4)
    rest = substr(rest, 1, index(rest, "]") - 1)
    return split(rest, out, ",")
}

# Median of v[1..n] (insertion sort on a copy; n is a few hundred steps).
function median(v, n,    w, i, j, x) {
    if (n == 0) return 0
    for (i = 1; i <= n; i++) w[i] = v[i]
    for (i = 2; i <= n; i++) {
        x = w[i]
        for (j = i - 1; j >= 1 && w[j] > x; j--) w[j + 1] = w[j]
        w[j + 1] = x
    }
    return n % 2 ? w[(n + 1) / 2] : (w[n / 2] + w[n / 2 + 1]) / 2
}

# Names of the arrays inside the "phases":{...} object of s into out[1..n]; returns n.
function phase_names(s, out,    i, rest, n, j) {
    i = index(s, "\"phases\":{")
    if (i == 0) return 0
    rest = substr(s, i + 10)
    rest = substr(rest, 1, index(rest, "}") - 1)
    n = 0
    while ((j = index(rest, "\"")) > 0) {
        rest = substr(rest, j + 1)
        j = index(rest, "\"")
        out[++n] = substr(rest, 1, j - 1)
        rest = substr(rest, j + 1)
        j = index(rest, "]")
        rest = substr(rest, j + 1)
    }
    return n
}

function fmt(x) { return sprintf("%.6g", x) }

BEGIN {
    if (target == "") target = 0.9
    if (learners == "") learners = 1
    if (layout == "") layout = "separate"
    n = 0; tta = ""
    if (header) {
        print "actors,mode,completions_per_s,gen_tok_per_s,learner_tok_per_s," \
              "learner_busy_frac,actor_idle_frac,staleness_mean,time_to_target_s," \
              "wire_bytes,wire_bytes_per_gen_tok,final_acc," \
              "steps,groups_per_step,group_size,train_s,gen_groups_per_actor_s," \
              "t_learn_step_s,t_bcast_step_s," \
              "learners,layout,ranks,params,wall_s,cpu_s_total,cpu_s_ranks," \
              "cpu_s_learner,cpu_s_actor,busy_s_learner,busy_s_actor,busy_s_ranks," \
              "cpu_util,completions_per_cpu_s,steal_s,other_cpu_s,t_allreduce_step_s"
        exit 0
    }
}

FNR == 1 { file++ }

# metrics.jsonl: step 0 holds only the starting eval
file == 1 && num($0, "step") == 0 {
    if (num($0, "eval_greedy_acc") >= target && tta == "") tta = 0
    next
}

file == 1 {
    n++
    c = num($0, "completions"); comp += c
    groups += num($0, "groups")
    gtok += num($0, "len_mean") * c
    ltok += num($0, "learner_tok_s") * num($0, "t_learn")
    tl[n] = num($0, "t_learn"); tlsum += tl[n]
    tb[n] = num($0, "t_bcast")
    ta[n] = num($0, "t_allreduce"); if (ta[n] != "") n_ta++
    teval += num($0, "t_eval")
    stale += num($0, "staleness_mean") * c
    wire += num($0, "wire_bytes")
    last_elapsed = num($0, "elapsed_s")
    a = num($0, "eval_greedy_acc")
    if (a != "" && a >= target && tta == "") tta = num($0, "elapsed_s")
    next
}

file == 2 { summary = summary $0; next }

# RUN.cpu: per-rank "RANK USER SYS WALL" and the launcher's "total WALL USER SYS"
file == 3 && $1 == "total" { cpu_wall = $2; cpu_total = $3 + $4; next }
file == 3 && $1 == "machine" { m_busy = $2; m_steal = $3; next }
file == 3 && $1 ~ /^[0-9]+$/ { rcpu[$1 + 1] = $2 + $3; have_rcpu = 1; next }

END {
    if (header) exit 0
    if (n == 0 || summary == "") exit 1
    train_s = num(summary, "train_seconds")
    final_acc = num(summary, "grpo_greedy_acc")
    ranks = num(summary, "ranks")
    # throughput over the training loop minus the in-loop evaluations (the
    # same held-out eval in every run; time-to-target keeps them in)
    t_run = last_elapsed - teval
    if (t_run <= 0) t_run = train_s
    arr(summary, "learn", learn)
    arr(summary, "generate", gen)
    arr(summary, "verify", ver)
    arr(summary, "send", snd)
    arr(summary, "wait", wt)
    # busy seconds per rank: every phase of "phases" but wait
    np_ = phase_names(summary, pname)
    for (r = 1; r <= ranks; r++) busy[r] = 0
    for (q = 1; q <= np_; q++) {
        if (pname[q] == "wait") continue
        m = arr(summary, pname[q], pv)
        for (r = 1; r <= m && r <= ranks; r++) busy[r] += pv[r]
    }
    # learner ranks [1, nl], generating ranks [a0, ranks] (1-based indices)
    colo = (layout == "colocated")
    nl = colo ? ranks : learners
    a0 = colo ? 1 : learners + 1
    na = ranks - a0 + 1
    idle = 0; gsum = 0
    for (r = a0; r <= ranks; r++) {
        tot = gen[r] + ver[r] + snd[r] + wt[r]
        idle += tot > 0 ? wt[r] / tot : 0
        gsum += gen[r] + ver[r]
    }
    idle = na > 0 ? idle / na : 0
    bl = 0; ba = 0; bt = 0; cl = 0; ca = 0; ct = 0
    for (r = 1; r <= ranks; r++) {
        bt += busy[r]; ct += rcpu[r]
        if (r <= nl) { bl += busy[r]; cl += rcpu[r] }
        if (r >= a0) { ba += busy[r]; ca += rcpu[r] }
    }
    printf "%d,%s,%s,%s,%s,%s,%s,%s,%s,%.0f,%s,%s,%d,%s,%s,%s,%s,%s,%s",
        actors, mode, fmt(comp / t_run), fmt(gtok / t_run),
        fmt(tlsum > 0 ? ltok / tlsum : 0), fmt(train_s > 0 ? learn[1] / train_s : 0),
        fmt(idle), fmt(comp > 0 ? stale / comp : 0), tta == "" ? "" : fmt(tta),
        wire, fmt(gtok > 0 ? wire / gtok : 0), fmt(final_acc),
        n, fmt(groups / n), fmt(groups > 0 ? comp / groups : 0), fmt(train_s),
        fmt(gsum > 0 ? groups / gsum : 0), fmt(median(tl, n)), fmt(median(tb, n))
    # (no ">" comparisons inside printf's arguments: awk would take it for a redirection)
    c_wall = cpu_wall == "" ? "" : fmt(cpu_wall)
    c_tot = cpu_total == "" ? "" : fmt(cpu_total)
    c_ranks = have_rcpu ? fmt(ct) : ""
    c_l = ""; if (have_rcpu && nl > 0) c_l = fmt(cl / nl)
    c_a = ""; if (have_rcpu && na > 0) c_a = fmt(ca / na)
    util = ""; if (cpu_total != "" && cpu_wall > 0 && cores > 0) util = fmt(cpu_total / (cpu_wall * cores))
    per_cpu = ""; if (cpu_total != "" && cpu_total > 0) per_cpu = fmt(comp / cpu_total)
    b_l = nl > 0 ? bl / nl : 0
    b_a = na > 0 ? ba / na : 0
    steal = m_steal == "" ? "" : fmt(m_steal)
    other = ""; if (m_busy != "" && cpu_total != "") other = fmt(m_busy - cpu_total)
    t_ar = n_ta == n ? fmt(median(ta, n)) : ""   # only when every step has it
    printf ",%d,%s,%d,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n",
        learners, layout, ranks, params, c_wall, c_tot, c_ranks, c_l, c_a,
        fmt(b_l), fmt(b_a), fmt(bt), util, per_cpu, steal, other, t_ar
}
