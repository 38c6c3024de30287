# scaling_summary.awk: one CSV row for one `grpo train` run of the scaling
# study (deploy/scaling.sh). POSIX awk (mawk and gawk both work): the inputs
# are flat JSON written by the project itself (learner/metrics.c,
# learner/learner.c), so a field is found by its "key": prefix, no parser.
#
#   awk -v actors=N -v mode=sync|async -v target=0.9 \
#       -f deploy/scaling_summary.awk RUN/metrics.jsonl RUN/summary.json
#   awk -v header=1 -f deploy/scaling_summary.awk      (the header line only)
#
# Columns (SCALING.md explains each one):
#   actors,mode,completions_per_s,gen_tok_per_s,learner_tok_per_s,
#   learner_busy_frac,actor_idle_frac,staleness_mean,time_to_target_s,
#   wire_bytes,wire_bytes_per_gen_tok,final_acc,
#   steps,groups_per_step,group_size,train_s,gen_groups_per_actor_s,
#   t_learn_step_s,t_bcast_step_s
# The last seven are the inputs of the knee model (deploy/scaling_model.sh).
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

function fmt(x) { return sprintf("%.6g", x) }

BEGIN {
    if (target == "") target = 0.9
    n = 0; tta = ""
    if (header) {
        print "actors,mode,completions_per_s,gen_tok_per_s,learner_tok_per_s," \
              "learner_busy_frac,actor_idle_frac,staleness_mean,time_to_target_s," \
              "wire_bytes,wire_bytes_per_gen_tok,final_acc," \
              "steps,groups_per_step,group_size,train_s,gen_groups_per_actor_s," \
              "t_learn_step_s,t_bcast_step_s"
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
    teval += num($0, "t_eval")
    stale += num($0, "staleness_mean") * c
    wire += num($0, "wire_bytes")
    last_elapsed = num($0, "elapsed_s")
    a = num($0, "eval_greedy_acc")
    if (a != "" && a >= target && tta == "") tta = num($0, "elapsed_s")
    next
}

file == 2 { summary = summary $0 }

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
    idle = 0; gsum = 0
    for (r = 2; r <= ranks; r++) { # rank r-1; rank 0 is the learner
        tot = gen[r] + ver[r] + snd[r] + wt[r]
        idle += tot > 0 ? wt[r] / tot : 0
        gsum += gen[r] + ver[r]
    }
    idle = ranks > 1 ? idle / (ranks - 1) : 0
    printf "%d,%s,%s,%s,%s,%s,%s,%s,%s,%.0f,%s,%s,%d,%s,%s,%s,%s,%s,%s\n",
        actors, mode, fmt(comp / t_run), fmt(gtok / t_run),
        fmt(tlsum > 0 ? ltok / tlsum : 0), fmt(train_s > 0 ? learn[1] / train_s : 0),
        fmt(idle), fmt(comp > 0 ? stale / comp : 0), tta == "" ? "" : fmt(tta),
        wire, fmt(gtok > 0 ? wire / gtok : 0), fmt(final_acc),
        n, fmt(groups / n), fmt(groups > 0 ? comp / groups : 0), fmt(train_s),
        fmt(gsum > 0 ? groups / gsum : 0), fmt(median(tl, n)), fmt(median(tb, n))
}
