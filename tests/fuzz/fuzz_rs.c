/* fuzz_rs.c: the rejection-sample share message (proto/rs_records.h) that
 * ranks 1.. send to rank 0. Properties: a reject names the problem and
 * leaves the records untouched; an accepted message has consistent counts
 * and NUL-free non-empty texts, and re-encodes to the same bytes. */
#include "fuzz_common.h"
#include "rs_records.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    RsStats st;
    RsRecords rs = {0};
    char err[300] = "";
    if (rs_decode(data, size, &st, &rs, err, sizeof err) != 0) {
        FUZZ_REQUIRE(fuzz_err_ok(err, sizeof err));
        FUZZ_REQUIRE(rs.n == 0);
        return 0;
    }
    RsCount t = rs_stats_total(&st);
    FUZZ_REQUIRE(t.accepted <= t.sampled && t.prompts_ok <= t.prompts);
    FUZZ_REQUIRE((uint64_t)rs.n <= t.accepted);
    for (int i = 0; i < rs.n; i++)
        FUZZ_REQUIRE(rs.r[i].prompt[0] && rs.r[i].completion[0]);
    uint8_t *again;
    size_t len;
    FUZZ_REQUIRE(rs_encode(&st, &rs, &again, &len, err, sizeof err) == 0);
    FUZZ_REQUIRE(len == size && memcmp(again, data, size) == 0);
    xfree(again);
    rs_records_free(&rs);
    return 0;
}
