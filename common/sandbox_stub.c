/* sandbox_stub.c: TEMPORARY stand-in for sandbox.c so that this branch
 * (h-verifier) links before the real sandbox lands from h-sandbox.
 * DELETE THIS FILE AT MERGE: sandbox.c defines every function here.
 * Every call fails: [task] verifier_sandbox = 1 gives a verifier that
 * cannot start ("sandbox not built"). */
#include <string.h>

#include "sandbox.h"
#include "util.h"

int sandbox_available(char *why, size_t whylen) {
    set_err(why, whylen, "sandbox not built (sandbox_stub.c)");
    return 0;
}

void sandbox_run_many(const SandboxLimits *lim, const SandboxJob *jobs, int n, SandboxResult *out) {
    (void)lim;
    (void)jobs;
    for (int i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].end = SANDBOX_SETUP_FAILED;
        set_err(out[i].setup_error, sizeof out[i].setup_error, "sandbox not built");
    }
}

void sandbox_result_free(SandboxResult *r) {
    if (r) {
        xfree(r->out);
        r->out = NULL;
    }
}

int sandbox_spawn(const SandboxLimits *lim, const char *const argv[], const char *const ro_paths[],
                  ChildProc *out, char *err, size_t errlen) {
    (void)lim;
    (void)argv;
    (void)ro_paths;
    (void)out;
    set_err(err, errlen, "sandbox not built");
    return -1;
}
