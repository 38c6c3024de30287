# plot_scaling.gp: the scaling figure of deploy/scaling.sh, two panels.
#   left:  completions/s vs actors, sync and async (points: measured; solid
#          lines: the model of scaling_model.sh capped at this machine's
#          cores; dotted: the same model uncapped; dashed: ideal linear
#          scaling from each mode's 1-actor point); linear axes
#   right: wall seconds to the target held-out accuracy vs actors
#
#   gnuplot -e "csv='OUT/scaling.csv'; model='OUT/model.dat'; png='OUT/scaling.png'; \
#               target='0.9'; cores='2'" deploy/plot_scaling.gp
# Rows of the CSV whose time-to-target is empty (never reached) are left out
# of the right panel.
if (!exists("csv"))    csv = 'scaling.csv'
if (!exists("model"))  model = 'model.dat'
if (!exists("png"))    png = 'scaling.png'
if (!exists("target")) target = '?'
if (!exists("cores"))  cores = '?'

set terminal pngcairo size 1300,540 noenhanced font ',10'
set output png
set datafile separator ','
set datafile missing ''

# the 1-actor completions/s of each mode (bases of the ideal lines), the
# largest actor count and the number of rows that reached the target come
# from the caller: stats would stop the script on a mode that has no rows
if (!exists("base_sync"))  base_sync = NaN
if (!exists("base_async")) base_async = NaN
if (!exists("nmax"))       nmax = 4
if (!exists("n_tta"))      n_tta = 1

# the rows of one mode (awk, so a line joins that mode's points only)
rows(m) = sprintf("< awk -F, -v m=%s 'NR > 1 && $2 == m' '%s'", m, csv)

set multiplot layout 1,2 title sprintf('GRPO actor-learner scaling (%s cores on this machine)', cores)

set title 'throughput'
set xlabel 'actors'
set ylabel 'completions / s'
set xrange [0.8:nmax + 0.2]
if (nmax <= 16) set xtics 1, 1; else set xtics autofreq
set yrange [0:*]
set grid
set key top left box opaque
set style line 1 lc rgb '#1f77b4' lw 2 pt 7 ps 1.5
set style line 2 lc rgb '#d62728' lw 2 pt 5 ps 1.5
plot rows('sync') using 1:3 with points ls 1 title 'sync (measured)', \
     rows('async') using 1:3 with points ls 2 title 'async (measured)', \
     model using 1:2 with lines ls 1 lw 1 title 'sync model (capped at cores)' , \
     model using 1:3 with lines ls 2 lw 1 title 'async model (capped at cores)', \
     model using 1:4 with lines ls 1 lw 1 dt 3 title 'sync model (uncapped)', \
     model using 1:5 with lines ls 2 lw 1 dt 3 title 'async model (uncapped)', \
     model using 1:($1 * base_sync) with lines ls 1 lw 1 dt 2 title 'ideal linear from 1-actor sync', \
     model using 1:($1 * base_async) with lines ls 2 lw 1 dt 2 title 'ideal linear from 1-actor async'

set title sprintf('wall time to held-out greedy accuracy >= %s', target)
set ylabel 'seconds (incl. in-loop evals)'
set key top left box opaque
if (n_tta > 0) {
    plot rows('sync') using 1:9 with linespoints ls 1 title 'sync', \
         rows('async') using 1:9 with linespoints ls 2 title 'async'
} else {
    set yrange [0:1]
    unset key
    set label 1 'no run reached the target' at graph 0.5, 0.5 center
    plot NaN notitle
}

unset multiplot
