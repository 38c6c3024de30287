# ppo_vs_grpo.gp: the figure of deploy/ppo_vs_grpo.sh, from dir/curves.tsv.
#   left:  arith, held-out greedy accuracy against training seconds
#   right: review, the hidden true preference of the sampled completions
#          (solid) and the reward model's score, sigmoid (dashed), against
#          training seconds; ppo_beta0 is the run made to over-optimise
#   gnuplot -e "dir='runs/ppo_vs_grpo'" deploy/ppo_vs_grpo.gp
if (!exists("dir")) dir = 'runs/ppo_vs_grpo'
f = dir.'/curves.tsv'
sel(task, run, col) = sprintf("< awk -F'\t' 'NR > 1 && $1 == \"%s\" && $2 == \"%s\" && $%d != \"\"' '%s'", task, run, col, f)
alarm(task, run) = sprintf("< awk -F'\t' 'NR > 1 && $1 == \"%s\" && $2 == \"%s\" && $7 == 1' '%s'", task, run, f)
set terminal pngcairo size 1400,520 noenhanced font ',10'
set output dir.'/ppo_vs_grpo.png'
set datafile separator '\t'
set multiplot layout 1,2
set grid
set key bottom right
set xlabel 'training seconds'
set ylabel 'held-out greedy accuracy'
set yrange [0.4:1]
set title 'arith: GRPO vs PPO, same start, same completions per step'
plot sel('arith', 'grpo', 5) using 4:5 with linespoints lw 2 title 'GRPO', \
     sel('arith', 'ppo', 5) using 4:5 with linespoints lw 2 title 'PPO'
set ylabel 'score (hidden preference solid, reward model dashed)'
set title 'review: against the learned reward model (dots: over-optimisation alarm on)'
set key at graph 0.98, graph 0.9 right top
set yrange [0.4:1.05]
plot sel('review', 'grpo', 5) using 4:5 with lines lw 2 lc 1 title 'GRPO true', \
     sel('review', 'grpo', 6) using 4:6 with lines lw 1 dt 2 lc 1 title 'GRPO rm', \
     sel('review', 'ppo', 5) using 4:5 with lines lw 2 lc 2 title 'PPO true', \
     sel('review', 'ppo', 6) using 4:6 with lines lw 1 dt 2 lc 2 title 'PPO rm', \
     sel('review', 'ppo_beta0', 5) using 4:5 with lines lw 2 lc 7 title 'PPO beta=0 true', \
     sel('review', 'ppo_beta0', 6) using 4:6 with lines lw 1 dt 2 lc 7 title 'PPO beta=0 rm', \
     alarm('review', 'ppo_beta0') using 4:5 with points pt 7 ps 0.6 lc 'black' title 'alarm on', \
     alarm('review', 'ppo') using 4:5 with points pt 7 ps 0.6 lc 'black' notitle, \
     alarm('review', 'grpo') using 4:5 with points pt 7 ps 0.6 lc 'black' notitle
unset multiplot
