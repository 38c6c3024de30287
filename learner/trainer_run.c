/* trainer_run.c: a one-process trainer's run (trainer_run.h). */
#include "trainer_run.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "learner.h"
#include "util.h"

int trainer_begin(TrainerRun *t, const char *run_dir) {
    signal(SIGXFSZ, SIG_IGN);
    int locked = run_lock_take(&t->lock, run_dir);
    if (locked) return locked;
    stop_signals_catch(&t->old_sig);
    /* run_dir is ours (the lock): a temp file in it is a write that died */
    char err[1000];
    if (ckpt_remove_stale_temps(run_dir, err, sizeof err) < 0)
        fprintf(stderr, "warning: %s\n", err);
    return 0;
}

void trainer_end(TrainerRun *t) {
    stop_signals_restore(&t->old_sig);
    run_lock_release(&t->lock);
}

Tokenizer *trainer_tokenizer(const char *init) {
    Tokenizer *tok = xcalloc(1, sizeof *tok);
    char err[1000];
    if (!init[0] || ckpt_read_tokenizer(init, tok, err, sizeof err) != 0) tokenizer_init_char(tok);
    return tok;
}

int trainer_resumed(const char *who, int resumed, const char *path, long step,
                    const char *harmless, const char *err) {
    if (resumed < 0) {
        fprintf(stderr, "error: %s\n", err);
        return EXIT_USAGE;
    }
    if (resumed) {
        printf("%s: resuming from %s at step %ld\n", who, path, step);
        if (harmless[0]) printf("%s: harmless config changes: %s\n", who, harmless);
    }
    return 0;
}

int trainer_requeue(const char *who, const char *path, long step) {
    printf("%s: signal %d: wrote %s at step %ld; exiting with status %d so a batch script "
           "requeues the job (the same command resumes)\n",
           who, stop_signal_pending(), path, step, EXIT_REQUEUE);
    return EXIT_REQUEUE;
}

void trainer_drop_resume(const char *path) {
    if (unlink(path) != 0 && errno != ENOENT)
        fprintf(stderr, "warning: cannot delete the resume checkpoint %s: %s\n", path,
                strerror(errno));
}
