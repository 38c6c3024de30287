#!/usr/bin/env bash
# scaling_model.sh: where the knee is, with K learners. Reads the CSV of
# deploy/scaling.sh, takes the model inputs from its 1-learner, 1-actor
# synchronous row (the one run with no oversubscription and no overlap: g,
# t_learn and t_bcast are clean there), and predicts throughput for every
# grid point (SCALING.md derives it):
#
#   g        groups/s one actor produces while generating (+ verifying)
#   tau_c    t_learn of one learner: compute seconds per step of B groups
#   t_ar(K)  ring allreduce of the gradient over K learners:
#            2 (K-1)/K x bytes / bandwidth + 2 (K-1) x latency, bytes = 4 x params
#   tau(K)   tau_c / K + t_ar(K) + t_bcast     learner seconds per step
#   sync     X = B / (B/(n g) + tau(K))
#   async    X = min(n g, B / tau(K))           (overlap, bounded staleness)
#   colocated (N ranks, each samples then learns; no weight broadcast)
#            X = B / (B/(N g) + tau_c/N + t_ar(N))
#   knee     n*(K) = B / (g tau(K)): n actors generate a batch in the time
#            the K learners need for one step; beyond it the learners are
#            the bottleneck
#
# On a machine with C cores shared by all ranks the same rates are also
# capped by CPU: sync uses min(n, C) cores while the actors generate and
# min(K, C) while the learners learn; async cannot exceed C / (1/g + tau_c/B)
# groups/s (each group costs 1/g actor-seconds plus tau_c/B learner-seconds).
#
#   bash deploy/scaling_model.sh CSV OUTDIR [CORES]
#
# Writes OUTDIR/model.dat (CSV: n, then completions/s predicted: sync and
# async with K=1 capped at CORES, the same uncapped, sync with K=2 capped and
# uncapped, colocated N=n capped and uncapped), OUTDIR/model.txt (the
# inputs, n*(K) here and on a cluster, the prediction beside each measured
# point), which it also prints, and the same numbers as CSV:
# OUTDIR/model_points.csv (one line per measured point: learners, layout,
# actors, mode, measured, predicted, uncapped completions/s, n*(K), tau
# measured and predicted) and OUTDIR/model_cluster.csv (groups_per_step,
# learners K, t_allreduce_s, tau_s, nstar, ranks, completions/s at n*).
#
# Environment (the assumptions; model.txt states them):
#   LOCAL_GBPS (40) and LOCAL_LAT_US (1): this machine's allreduce, in
#     Gbit/s and microseconds (shared memory between ranks of one node)
#   NODES (64), NODE_CORES (64): the cluster, one rank per core
#   NET_GBPS (100), NET_LAT_US (2): its network, Gbit/s and microseconds
#   CLUSTER_B (256): a larger batch (groups per step) the cluster is also
#     predicted for, and B = its ranks (one group per rank and step), the
#     learner's compute scaled linearly with B
#   PARAMS: parameter count if the CSV has none
#   GPU_SPEEDUP (20): the stated GPU-learner hypothetical (K = 1)
#   MODEL_INPUTS: another scaling.csv to take the inputs from (its
#     1-learner 1-actor sync row), e.g. when this grid's such row was slowed
#     by other work on the machine (its other_cpu_s column says so)
set -euo pipefail
csv=${1:?usage: scaling_model.sh CSV OUTDIR [CORES]}
out=${2:?usage: scaling_model.sh CSV OUTDIR [CORES]}
cores=${3:-$(nproc)}
[ -s "$csv" ] || { echo "scaling_model.sh: no CSV at $csv" >&2; exit 1; }
[ -z "${MODEL_INPUTS:-}" ] || [ -s "$MODEL_INPUTS" ] || { echo "scaling_model.sh: no CSV at MODEL_INPUTS=$MODEL_INPUTS" >&2; exit 1; }
mkdir -p "$out"

awk -F, -v C="$cores" -v dat="$out/model.dat" -v pts="$out/model_points.csv" -v clu="$out/model_cluster.csv" \
    -v LBW="${LOCAL_GBPS:-40}" -v LLAT="${LOCAL_LAT_US:-1}" \
    -v NODES="${NODES:-64}" -v NC="${NODE_CORES:-64}" \
    -v NBW="${NET_GBPS:-100}" -v NLAT="${NET_LAT_US:-2}" \
    -v BIGB="${CLUSTER_B:-256}" -v PENV="${PARAMS:-}" -v GPU="${GPU_SPEEDUP:-20}" \
    -v REF="${MODEL_INPUTS:-}" -v have_ref="$([ -n "${MODEL_INPUTS:-}" ] && echo 1 || echo 0)" '
function min(a, b) { return a < b ? a : b }
function max(a, b) { return a > b ? a : b }
# ring allreduce of `bytes` over k ranks at bw bytes/s and lat seconds
function tar(k, bw, lat) { return k <= 1 ? 0 : 2 * (k - 1) / k * bytes / bw + 2 * (k - 1) * lat }
# learner seconds per step with k learners on c cores (this machine)
function tau(k, c) { return tl / min(k, c) + tar(k, lbw, llat) + tb }
function xsync(n, k, c)  { return B / (B / (min(n, c) * g) + tau(k, c)) }
function xasync(n, k, c) { return min(min(min(n, c) * g, B / tau(k, c)), c / (1 / g + tl / B)) }
function xcolo(n, c)     { return B / (B / (min(n, c) * g) + tl / min(n, c) + tar(n, lbw, llat)) }
function predict(i, c) {
    if (L[i] == "colocated") return xcolo(A[i], c)
    return M[i] == "sync" ? xsync(A[i], K[i], c) : xasync(A[i], K[i], c)
}
FNR == 1 { delete col; for (i = 1; i <= NF; i++) col[$i] = i; file++; next }
# the inputs: the 1-learner separate 1-actor sync row, else the smallest
# such sync row, else any; of the MODEL_INPUTS CSV when one is given
function consider(    k, l, rank) {
    k = col["learners"] ? $col["learners"] : 1
    l = col["layout"] ? $col["layout"] : "separate"
    rank = (l == "separate" ? 0 : 100000) + (k == 1 ? 0 : 10000) + \
           ($col["mode"] == "sync" ? 0 : 1000) + $col["actors"]
    if (best == "" || rank < best) {
        best = rank; src = k " learner(s), " $col["actors"] " actor(s), " l ", " $col["mode"] " run"
        if (have_ref) src = src " of " REF
        g = $col["gen_groups_per_actor_s"]; tl = $col["t_learn_step_s"]
        tb = $col["t_bcast_step_s"]; B = $col["groups_per_step"]; G = $col["group_size"]
        P = col["params"] ? $col["params"] : ""
    }
}
have_ref && file == 1 { consider(); next }
{
    row++
    A[row] = $col["actors"]; M[row] = $col["mode"]; X[row] = $col["completions_per_s"]
    K[row] = col["learners"] ? $col["learners"] : 1
    L[row] = col["layout"] ? $col["layout"] : "separate"
    TM[row] = $col["t_learn_step_s"] + $col["t_bcast_step_s"]
    CP[row] = col["completions_per_cpu_s"] ? $col["completions_per_cpu_s"] : ""
    if (A[row] > nmax) nmax = A[row]
    if (!have_ref) consider()
}
END {
    if (row == 0 || g <= 0) { print "scaling_model.sh: no usable row (g = 0)" > "/dev/stderr"; exit 1 }
    if (P == "") P = PENV
    if (P == "") P = 0
    bytes = 4 * P
    lbw = LBW * 1e9 / 8; llat = LLAT * 1e-6
    nbw = NBW * 1e9 / 8; nlat = NLAT * 1e-6
    R = NODES * NC
    tau1 = tl + tb
    if (nmax < 4) nmax = 4
    for (n = 1; n <= 2 * nmax + 1e-9; n += 0.125)
        printf "%g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n", n,
               G * xsync(n, 1, C), G * xasync(n, 1, C), G * xsync(n, 1, 1e9), G * xasync(n, 1, 1e9),
               G * xsync(n, 2, C), G * xsync(n, 2, 1e9), G * xcolo(n, C), G * xcolo(n, 1e9) > dat
    printf "model inputs (from the %s):\n", src
    printf "  B   = %g groups per step, G = %g completions per group, %d parameters (%d gradient bytes)\n",
           B, G, P, bytes
    printf "  g   = %.4g groups/s per actor while generating (%.4g completions/s)\n", g, g * G
    printf "  tau_c = t_learn = %.4g s/step, t_bcast = %.4g s/step, tau(1) = %.4g s/step\n", tl, tb, tau1
    printf "  learner bound B/tau(1) = %.4g groups/s = %.4g completions/s\n", B / tau1, G * B / tau1
    printf "  CPU cost of a group: 1/g + tau_c/B = %.4g s, i.e. %.4g completions per CPU-second\n",
           1 / g + tl / B, G / (1 / g + tl / B)
    printf "knee n* = B / (g tau) = %.3g actors (K = 1)\n", B / (g * tau1)
    printf "this machine (%d cores shared by every rank; allreduce assumed %g Gbit/s, %g us latency):\n",
           C, LBW, LLAT
    for (k = 1; k <= 4; k *= 2) {
        note = ""; if (k > C) note = " (more learners than cores: not reachable here)"
        printf "  K = %d: t_ar = %.3g ms, tau(%d) = %.4g s, n*(%d) = %.3g%s\n", k,
               1e3 * tar(k, lbw, llat), k, tau(k, 1e9), k, B / (g * tau(k, 1e9)), note
    }
    if (B / (g * tau1) < 1)
        printf "  below one actor with K = 1: the learner is the bottleneck already with 1 actor\n"
    printf "  with %d cores, CPU caps throughput at C / (1/g + tau_c/B) = %.4g completions/s\n",
           C, G * C / (1 / g + tl / B)
    printf "  hypothetical, not measured: a GPU learner %gx faster at the same B and an\n" \
           "  unchanged broadcast would give n* = B / (g (t_learn/%g + t_bcast)) = %.3g\n", GPU, GPU,
           B / (g * (tl / GPU + tb))

    printf "prediction vs measurement (completions/s; model capped at %d cores; tau in s/step):\n", C
    printf "  %-2s %-9s %-6s %-5s %10s %10s %10s %7s %9s %9s %9s\n", "K", "layout", "actors", "mode",
           "measured", "predicted", "uncapped", "n*(K)", "tau meas", "tau pred", "compl/cpu"
    print "learners,layout,actors,mode,measured,predicted,uncapped,nstar,tau_measured,tau_predicted" > pts
    for (i = 1; i <= row; i++) {
        kk = L[i] == "colocated" ? A[i] : K[i]
        tp = L[i] == "colocated" ? tl / min(kk, C) + tar(kk, lbw, llat) : tau(kk, C)
        ks = L[i] == "colocated" ? "-" : sprintf("%.3g", B / (g * tau(kk, 1e9)))
        printf "  %-2d %-9s %-6d %-5s %10.4g %10.4g %10.4g %7s %9.4g %9.4g %9s\n", kk, L[i], A[i], M[i],
               X[i], G * predict(i, C), G * predict(i, 1e9), ks, TM[i], tp, CP[i]
        printf "%d,%s,%d,%s,%.6g,%.6g,%.6g,%s,%.6g,%.6g\n", kk, L[i], A[i], M[i], X[i],
               G * predict(i, C), G * predict(i, 1e9), ks == "-" ? "" : B / (g * tau(kk, 1e9)), TM[i], tp > pts
    }

    # the cluster: every rank on its own core, rates per core as measured here
    tbn = 2 * bytes / nbw + int(log(R) / log(2) + 0.999) * nlat
    printf "cluster (assumed: %d nodes x %d cores = %d ranks, one rank per core; per-core\n", NODES, NC, R
    printf "  generation and learner rates as measured here; network %g Gbit/s, %g us latency;\n", NBW, NLAT
    printf "  ring allreduce of %d gradient bytes; weight broadcast 2 x bytes / bw + log2(ranks) x latency\n", bytes
    printf "  = %.3g ms; a learner step split evenly over K learners, B/K groups each):\n", 1e3 * tbn
    print "groups_per_step,learners,t_allreduce_s,tau_s,nstar,ranks,completions_per_s_at_nstar" > clu
    blist = B " " BIGB
    if (R > BIGB) blist = blist " " R
    nb = split(blist, bs, " ")
    for (j = 1; j <= nb; j++) {
        b = bs[j]; if (j == 2 && b == B) continue
        tlb = tl * b / B
        scaled = ""; if (j > 1) scaled = ", scaled linearly from the measured B"
        printf "  B = %d groups per step (learner compute tau_c = %.4g s%s):\n", b, tlb, scaled
        printf "    %5s %10s %10s %8s %8s %14s\n", "K", "t_ar (ms)", "tau(K) (s)", "n*(K)", "ranks", "compl/s at n*"
        for (k = 1; k <= b && k <= R; k *= 2) {
            tk = tlb / k + tar(k, nbw, nlat) + tbn
            ns = b / (g * tk)
            fits = ""; if (k + int(ns + 0.999) > R) fits = "  (more ranks than the cluster has)"
            printf "    %5d %10.4g %10.4g %8.4g %8d %14.4g%s\n", k, 1e3 * tar(k, nbw, nlat), tk, ns,
                   k + int(ns + 0.999), G * b / tk, fits
            printf "%d,%d,%.6g,%.6g,%.6g,%d,%.6g\n", b, k, tar(k, nbw, nlat), tk, ns, k + int(ns + 0.999), G * b / tk > clu
        }
        # colocated on as many ranks as there are groups (at least one each), no broadcast
        nc = min(b, R)
        tc = b / (nc * g) + tlb / nc + tar(nc, nbw, nlat)
        printf "    colocated on N = %d ranks: step %.4g s (t_ar %.4g ms), %.4g completions/s\n",
               nc, tc, 1e3 * tar(nc, nbw, nlat), G * b / tc
    }
    printf "  (beyond K ~ sqrt(tau_c / (2 latency)) the allreduce latency term 2 (K-1) x latency exceeds\n"
    printf "  the compute tau_c/K; not modelled: how a learner'"'"'s cost per group changes with its\n"
    printf "  share B/K, stragglers, a broadcast that grows with the actors)\n"
}' ${MODEL_INPUTS:+"$MODEL_INPUTS"} "$csv" | tee "$out/model.txt"
