/* fuzz_verifier_reply.c: the external verifier's reply parser
 * (task_external_parse_reply), what an actor makes of a line a user's
 * program wrote.
 *
 * The input is one reply line, judged as the reply to request id 7 of an
 * external task over arith with components accuracy and format (no
 * process is started: the pool starts only when something is verified).
 * Properties: the outcome is OK, malformed or wrong id; an accepted reply
 * has status OK, a finite total (as a float: the wire refuses inf), both
 * components in [0, 1] and correct exactly when accuracy is 1 (up to
 * 1e-6); a refused one leaves the Reward untouched. */
#include <math.h>

#include "fuzz_common.h"
#include "task.h"
#include "verifier_pool.h"

static Task *task;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!task) {
        TaskParams p;
        task_params_default(&p);
        snprintf(p.verifier, sizeof p.verifier, "cat");
        snprintf(p.verifier_components, sizeof p.verifier_components, "accuracy,format");
        char err[512];
        task = task_create("arith", &p, 7, err, sizeof err);
        if (!task) {
            fprintf(stderr, "fuzz_verifier_reply: %s\n", err);
            abort();
        }
        FUZZ_REQUIRE(task->n_components == 2);
    }
    Reward r, untouched;
    memset(&r, 0xa5, sizeof r);
    untouched = r;
    const int rc = task_external_parse_reply(task, 7, (const char *)data, size, &r);
    FUZZ_REQUIRE(rc == VERIFIER_OK || rc == VERIFIER_MALFORMED || rc == VERIFIER_WRONG_ID);
    if (rc != VERIFIER_OK) {
        FUZZ_REQUIRE(memcmp(&r, &untouched, sizeof r) == 0);
        return 0;
    }
    FUZZ_REQUIRE(r.status == REWARD_OK && r.n == 2);
    FUZZ_REQUIRE(isfinite(r.total));
    for (int k = 0; k < r.n; k++) FUZZ_REQUIRE(r.value[k] >= 0 && r.value[k] <= 1);
    FUZZ_REQUIRE(r.correct == (r.value[0] >= 1 - 1e-6f));
    return 0;
}
