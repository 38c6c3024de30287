# plot_scaling.gp: the scaling figure of deploy/scaling.sh, three panels.
#   left:   completions/s vs actors (colocated: vs ranks), one colour per
#           series (K=1 sync, K=1 async, K=2 sync, colocated sync); points:
#           measured; solid lines: the model of scaling_model.sh capped at
#           this machine's cores; dotted: the same model uncapped; dashed:
#           ideal linear scaling from the 1-learner 1-actor point of each mode
#   middle: completions per CPU-second of the whole run (CPU time, which
#           oversubscription does not inflate), with the model's CPU cost
#   right:  wall seconds to the target held-out accuracy vs actors
#
#   gnuplot -e "csv='OUT/scaling.csv'; model='OUT/model.dat'; png='OUT/scaling.png'; \
#               target='0.9'; cores='2'" deploy/plot_scaling.gp
# Rows of the CSV whose time-to-target is empty (never reached) are left out
# of the right panel. Columns used: 1 actors, 2 mode, 3 completions_per_s,
# 9 time_to_target_s, 20 learners, 21 layout, 33 completions_per_cpu_s.
if (!exists("csv"))    csv = 'scaling.csv'
if (!exists("model"))  model = 'model.dat'
if (!exists("png"))    png = 'scaling.png'
if (!exists("target")) target = '?'
if (!exists("cores"))  cores = '?'

set terminal pngcairo size 1800,560 noenhanced font ',10'
set output png
set datafile separator ','
set datafile missing ''

# from the caller (stats would stop the script on a series that has no rows):
# the 1-actor completions/s of each mode (bases of the ideal lines), the
# largest actor count, the number of rows that reached the target, whether
# there are K=2 and colocated rows, and the model's completions per CPU-second
if (!exists("base_sync"))  base_sync = NaN
if (!exists("base_async")) base_async = NaN
if (!exists("nmax"))       nmax = 4
if (!exists("n_tta"))      n_tta = 1
if (!exists("have_k2"))    have_k2 = 0
if (!exists("have_colo"))  have_colo = 0
if (!exists("cpu_model"))  cpu_model = NaN

# the rows of one series (awk, so a line joins that series' points only)
rows(k, m, lay) = sprintf("< awk -F, -v k=%d -v m=%s -v l=%s 'NR > 1 && $2 == m && $20 == k && $21 == l' '%s'", \
                          k, m, lay, csv)
colo = sprintf("< awk -F, 'NR > 1 && $21 == \"colocated\"' '%s'", csv)

set multiplot layout 1,3 title sprintf('GRPO actor-learner scaling (%s cores on this machine)', cores)

set style line 1 lc rgb '#1f77b4' lw 2 pt 7 ps 1.5
set style line 2 lc rgb '#d62728' lw 2 pt 5 ps 1.5
set style line 3 lc rgb '#2ca02c' lw 2 pt 9 ps 1.6
set style line 4 lc rgb '#9467bd' lw 2 pt 11 ps 1.6
set xrange [0.8:nmax + 0.2]
if (nmax <= 16) set xtics 1, 1; else set xtics autofreq
set grid

# the optional series are strings for eval (a plot element with no rows
# would be an error or an empty key entry); they name the sources below
s1 = rows(1, 'sync', 'separate')
a1 = rows(1, 'async', 'separate')
s2 = rows(2, 'sync', 'separate')
k2_thr = !have_k2 ? "" : \
    ", s2 using 1:3 with points ls 3 title 'K=2 sync (measured)'" . \
    ", model using 1:6 with lines ls 3 lw 1 title 'K=2 sync model (capped)'" . \
    ", model using 1:7 with lines ls 3 lw 1 dt 3 title 'K=2 sync model (uncapped)'"
colo_thr = !have_colo ? "" : \
    ", colo using 1:3 with points ls 4 title 'colocated sync (measured)'" . \
    ", model using 1:8 with lines ls 4 lw 1 title 'colocated model (capped)'" . \
    ", model using 1:9 with lines ls 4 lw 1 dt 3 title 'colocated model (uncapped)'"
extra(c) = (!have_k2 ? "" : sprintf(", s2 using 1:%d with linespoints ls 3 title 'K=2 sync'", c)) . \
           (!have_colo ? "" : sprintf(", colo using 1:%d with linespoints ls 4 title 'colocated sync'", c))

set title 'throughput'
set xlabel 'actors n (colocated: ranks N)'
set ylabel 'completions / s'
set yrange [0:*]
set key top left box opaque font ',8'
eval "plot " . "s1 using 1:3 with points ls 1 title 'K=1 sync (measured)', " . \
     "a1 using 1:3 with points ls 2 title 'K=1 async (measured)', " . \
     "model using 1:2 with lines ls 1 lw 1 title 'K=1 sync model (capped at cores)', " . \
     "model using 1:3 with lines ls 2 lw 1 title 'K=1 async model (capped)', " . \
     "model using 1:4 with lines ls 1 lw 1 dt 3 title 'K=1 sync model (uncapped)', " . \
     "model using 1:5 with lines ls 2 lw 1 dt 3 title 'K=1 async model (uncapped)', " . \
     "model using 1:($1 * base_sync) with lines ls 1 lw 1 dt 2 title 'ideal linear from K=1 1-actor sync', " . \
     "model using 1:($1 * base_async) with lines ls 2 lw 1 dt 2 title 'ideal linear from K=1 1-actor async'" . \
     k2_thr . colo_thr

set title 'work per CPU-second (all ranks, launcher included)'
set ylabel 'completions per CPU-second'
set key bottom left box opaque font ',8'
eval "plot " . "s1 using 1:33 with linespoints ls 1 title 'K=1 sync', " . \
     "a1 using 1:33 with linespoints ls 2 title 'K=1 async'" . extra(33) . \
     ", cpu_model with lines lc rgb 'black' lw 1 dt 2 title 'model: G / (1/g + tau_c/B)'"

set title sprintf('wall time to held-out greedy accuracy >= %s', target)
set ylabel 'seconds (incl. in-loop evals)'
set key top left box opaque font ',8'
if (n_tta > 0) {
    eval "plot " . "s1 using 1:9 with linespoints ls 1 title 'K=1 sync', " . \
         "a1 using 1:9 with linespoints ls 2 title 'K=1 async'" . extra(9)
} else {
    set yrange [0:1]
    unset key
    set label 1 'no run reached the target' at graph 0.5, 0.5 center
    plot NaN notitle
}

unset multiplot
