/* learner_report.c: the end of a finished run: final.ckpt, the final
 * evaluation's line, the per-rank phase table, the accuracy table, the
 * last dashboard redraw and summary.json. "steps" there is grpo.steps as
 * configured; "steps_done" and "stop" ("steps", or "time_limit" when
 * [grpo] time_limit_s ended the run) say where it ended. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "learner.h"
#include "learner_run.h"
#include "run_files.h"
#include "util.h"

/* Prints the CoMD-style phase table: min (rank) / max (rank) / avg. */
static void print_phase_table(const double *all, int size) {
    printf("phase timers over %d ranks (seconds): min (rank) / max (rank) / avg\n", size);
    for (int p = 0; p < PHASE_COUNT; p++) {
        double mn = INFINITY, mx = -INFINITY, sum = 0;
        int rmn = 0, rmx = 0;
        for (int r = 0; r < size; r++) {
            double v = all[r * PHASE_COUNT + p];
            if (v < mn) mn = v, rmn = r;
            if (v > mx) mx = v, rmx = r;
            sum += v;
        }
        printf("  %-9s %9.3f (%d) %9.3f (%d) %9.3f\n", phase_names[p], mn, rmn, mx, rmx, sum / size);
    }
}


/* Final evaluation, plot, and the table of held-out accuracy. Returns 0,
 * or EXIT_RUN_DIR when final.ckpt or summary.json cannot be written. */
int report(Run *R, const double *all_phases) {
    const Config *cfg = R->cfg;
    const TrainPlan *plan = R->plan;
    char path[CFG_STR_MAX + 32], err[900];
    double wall = now_seconds() - R->t_start;
    snprintf(path, sizeof path, "%s/final.ckpt", R->run->dir);
    R->rs.step = R->L.step;
    R->rs.version = R->version;
    R->rs.train_seconds = wall;
    if (run_checkpoint_write(path, &R->policy, R->tok, &R->L.opt, &R->rs, cfg, err, sizeof err)) {
        fprintf(stderr, "error: run directory not writable: %s\n", err);
        return EXIT_RUN_DIR;
    }
    printf("wrote %s (policy version %llu)\n", path, (unsigned long long)R->version);
    const EvalResult final = R->final_eval;
    eval_print("grpo", &final, R->task);
    print_phase_table(all_phases, R->comm->size);
    char png[600] = "";
    int plotted = dashboard_finish(&R->dash, png, sizeof png) == 0;
    printf("\nheld-out greedy accuracy, %d distinct %s prompts never trained on:\n",
           final.n_prompts, R->task->name);
    printf("  %-28s %.3f\n", "demonstrator", R->rs.demo_acc);
    printf("  %-28s %.3f\n", "SFT model (start of GRPO)", R->rs.start_acc);
    printf("  %-28s %.3f   (%ld steps, %.0f s training, %ld bad messages, %ld stale)\n",
           "GRPO model", final.greedy_acc, R->L.step, wall, R->in.n_bad, R->in.n_stale);
    if (R->time_stop)
        printf("stopped at the time limit: [grpo] time_limit_s = %g reached after %ld of %d steps "
               "(grpo.steps), %.1f s of training with the final evaluation\n",
               (double)R->gs->time_limit_s, R->L.step, plan->steps, wall);
    printf("held-out evaluation: %.1f s in all, %d evaluations on %d actors (%.2f s each)\n",
           R->eval_seconds, R->n_evals, R->roles.n_actors,
           R->n_evals ? R->eval_seconds / R->n_evals : 0.0);
    if (plotted)
        printf("dashboard: %s (%ld drawn, %ld skipped while gnuplot was busy, %ld failed; "
               "%.1f ms of learner time to start them, %.2f s of gnuplot beside training)\n",
               png, R->dash.drawn, R->dash.skipped, R->dash.failed, 1e3 * R->dash.spawn_seconds,
               R->dash.child_seconds);
    printf("learner rank: peak resident memory %.1f MiB\n", peak_rss_mib());
    snprintf(path, sizeof path, "%s/summary.json", R->run->dir);
    char *text = NULL;
    size_t len = 0;
    FILE *sf = open_memstream(&text, &len);
    if (!sf) die("open_memstream failed: out of memory");
    fprintf(sf,
            "{\"demonstrator_acc\":%.6g,\"sft_greedy_acc\":%.6g,\"grpo_greedy_acc\":%.6g,"
            "\"grpo_sampled_acc\":%.6g,\"grpo_pass_at_k\":%.6g,\"k\":%d,\"eval_prompts\":%d,"
            "\"steps\":%d,\"async\":%d,\"max_staleness\":%d,\"train_seconds\":%.2f,"
            "\"bad_messages\":%ld,\"stale_dropped\":%ld,\"ranks\":%d,\"eval_seconds\":%.2f,"
            "\"evals\":%d,\"plot\":\"%s\",\"steps_done\":%ld,\"stop\":\"%s\","
            "\"time_limit_s\":%g,\"learner_peak_rss_mib\":%.1f,\"phases\":{",
            R->rs.demo_acc, R->rs.start_acc, final.greedy_acc, final.sampled_acc, final.pass_at_k,
            final.k, final.n_prompts, plan->steps, plan->async, plan->max_staleness, wall,
            R->in.n_bad, R->in.n_stale, R->comm->size, R->eval_seconds, R->n_evals,
            plotted ? png : "", R->L.step, R->time_stop ? "time_limit" : "steps",
            (double)R->gs->time_limit_s, peak_rss_mib());
    /* per-rank phase seconds: what the scaling study divides into busy and
     * idle fractions */
    for (int p = 0; p < PHASE_COUNT; p++) {
        fprintf(sf, "%s\"%s\":[", p ? "," : "", phase_names[p]);
        for (int r = 0; r < R->comm->size; r++)
            fprintf(sf, "%s%.4f", r ? "," : "", all_phases[r * PHASE_COUNT + p]);
        fprintf(sf, "]");
    }
    fprintf(sf, "}}\n");
    if (fclose(sf) != 0) die("building %s failed: out of memory", path);
    int bad = run_file_write(path, text, len, err, sizeof err);
    free(text);
    if (bad) {
        fprintf(stderr, "error: run directory not writable: %s\n", err);
        return EXIT_RUN_DIR;
    }
    return 0;
}

