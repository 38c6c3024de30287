#!/usr/bin/env bash
# scaling_model.sh: where the knee is. Reads the CSV of deploy/scaling.sh,
# takes the model inputs from its 1-actor synchronous row (the one run with
# no oversubscription and no overlap: g, t_learn and t_bcast are clean
# there), and predicts throughput for n actors (SCALING.md derives it):
#
#   g       groups/s one actor produces while generating (+ verifying)
#   tau     t_learn + t_bcast, learner seconds per step of B groups
#   sync    X(n) = B / (B/(n g) + tau)
#   async   X(n) = min(n g, B/tau)          (overlap, bounded staleness)
#   knee    n* = B / (g tau): n actors generate a batch in the time the
#           learner needs for one; beyond n* the learner is the bottleneck
#
# On a machine with C cores shared by all n+1 ranks the same rates are also
# capped by CPU: sync uses min(n, C) cores while the actors generate (the
# learner sleeps then); async cannot exceed C / (1/g + tau/B) groups/s (each
# group costs 1/g actor-seconds plus tau/B learner-seconds).
#
#   bash deploy/scaling_model.sh CSV OUTDIR [CORES]
#
# Writes OUTDIR/model.dat (CSV: n, then completions/s predicted: sync and async
# capped at CORES, sync and async uncapped) and OUTDIR/model.txt (the
# inputs, n* here and on a cluster node, the prediction at each measured
# point), which it also prints. Env: NODE_CORES (64) for the cluster node,
# GPU_SPEEDUP (20) for the stated GPU-learner hypothetical.
set -euo pipefail
csv=${1:?usage: scaling_model.sh CSV OUTDIR [CORES]}
out=${2:?usage: scaling_model.sh CSV OUTDIR [CORES]}
cores=${3:-$(nproc)}
node_cores=${NODE_CORES:-64}
gpu=${GPU_SPEEDUP:-20}
[ -s "$csv" ] || { echo "scaling_model.sh: no CSV at $csv" >&2; exit 1; }
mkdir -p "$out"

awk -F, -v C="$cores" -v NC="$node_cores" -v K="$gpu" -v dat="$out/model.dat" '
function min(a, b) { return a < b ? a : b }
function xsync(n, c)  { return B / (B / (min(n, c) * g) + tau) }
function xasync(n, c) { return min(min(n * g, B / tau), c / (1 / g + tau / B)) }
NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
{
    row++
    A[row] = $col["actors"]; M[row] = $col["mode"]; X[row] = $col["completions_per_s"]
    if (A[row] > nmax) nmax = A[row]
    # model inputs: the 1-actor sync row, else the smallest sync row, else any
    rank = ($col["mode"] == "sync" ? 0 : 1000) + $col["actors"]
    if (best == "" || rank < best) {
        best = rank; src = $col["actors"] " actor(s), " $col["mode"]
        g = $col["gen_groups_per_actor_s"]; tl = $col["t_learn_step_s"]
        tb = $col["t_bcast_step_s"]; B = $col["groups_per_step"]; G = $col["group_size"]
    }
}
END {
    if (row == 0 || g <= 0) { print "scaling_model.sh: no usable row (g = 0)" > "/dev/stderr"; exit 1 }
    tau = tl + tb
    knee = B / (g * tau)
    if (nmax < 4) nmax = 4
    for (n = 1; n <= 2 * nmax + 1e-9; n += 0.125)
        printf "%g,%.6g,%.6g,%.6g,%.6g\n", n, G * xsync(n, C), G * xasync(n, C),
               G * xsync(n, 1e9), G * xasync(n, 1e9) > dat
    printf "model inputs (from the %s run):\n", src
    printf "  B   = %g groups per step, G = %g completions per group\n", B, G
    printf "  g   = %.4g groups/s per actor while generating (%.4g completions/s)\n", g, g * G
    printf "  t_learn = %.4g s/step, t_bcast = %.4g s/step, tau = %.4g s/step\n", tl, tb, tau
    printf "  learner bound B/tau = %.4g groups/s = %.4g completions/s\n", B / tau, G * B / tau
    printf "knee n* = B / (g tau) = %.3g actors\n", knee
    printf "  this machine (%d cores shared by learner and actors): n* = %.3g\n", C, knee
    if (knee < 1)
        printf "  below one actor: the learner is the bottleneck already with 1 actor,\n" \
               "  so more actors cannot raise throughput here in either mode\n"
    else if (knee + 1 > C)
        printf "  above the %d cores: the CPU, not the learner, caps it here\n", C
    else printf "  more actors than that only queue for the learner\n"
    printf "  cluster node (assumed: %d cores, one core per rank, learner on its own core,\n" \
           "  per-core rates as measured here, broadcast time as measured here): n* = %.3g,\n" \
           "  at most %d actors fit; sync reaches half the learner bound at n = n*\n", NC, knee, NC - 1
    printf "  hypothetical, not measured: a GPU learner %gx faster at the same B and an\n" \
           "  unchanged broadcast would give n* = B / (g (t_learn/%g + t_bcast)) = %.3g\n", K, K,
           B / (g * (tl / K + tb))
    printf "prediction vs measurement (completions/s; model capped at %d cores):\n", C
    printf "  %-6s %-5s %10s %10s %10s\n", "actors", "mode", "measured", "predicted", "uncapped"
    for (i = 1; i <= row; i++) {
        p = M[i] == "sync" ? xsync(A[i], C) : xasync(A[i], C)
        u = M[i] == "sync" ? xsync(A[i], 1e9) : xasync(A[i], 1e9)
        printf "  %-6d %-5s %10.4g %10.4g %10.4g\n", A[i], M[i], X[i], G * p, G * u
    }
}' "$csv" | tee "$out/model.txt"
