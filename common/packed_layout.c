/* packed_layout.c: see packed_layout.h. */
#include "packed_layout.h"

#include <string.h>

#include "util.h"

void packed_layout_init(PackedLayout *l, int max_B, int max_T) {
    CHECK(max_B >= 1 && max_T >= 1);
    memset(l, 0, sizeof *l);
    l->max_rows = max_B * max_T;
    /* a row makes at most two segments: its prompt's prefix and its own */
    l->max_segs = 2 * max_B;
    l->seg_row0 = xmalloc(sizeof(int) * (size_t)l->max_segs);
    l->seg_len = xmalloc(sizeof(int) * (size_t)l->max_segs);
    l->seg_prefix = xmalloc(sizeof(int) * (size_t)l->max_segs);
    l->tokens = xmalloc(sizeof(int) * (size_t)l->max_rows);
    l->pos = xmalloc(sizeof(int) * (size_t)l->max_rows);
    l->row_of = xmalloc(sizeof(int) * (size_t)l->max_rows);
}

void packed_layout_free(PackedLayout *l) {
    xfree(l->seg_row0);
    xfree(l->seg_len);
    xfree(l->seg_prefix);
    xfree(l->tokens);
    xfree(l->pos);
    xfree(l->row_of);
    memset(l, 0, sizeof *l);
}

void packed_layout_copy(PackedLayout *dst, const PackedLayout *src) {
    const int grid = src->B * src->T;
    CHECK(src->n_rows <= dst->max_rows && grid <= dst->max_rows && src->n_segs <= dst->max_segs);
    dst->B = src->B;
    dst->T = src->T;
    dst->n_rows = src->n_rows;
    dst->n_segs = src->n_segs;
    memcpy(dst->seg_row0, src->seg_row0, sizeof(int) * (size_t)src->n_segs);
    memcpy(dst->seg_len, src->seg_len, sizeof(int) * (size_t)src->n_segs);
    memcpy(dst->seg_prefix, src->seg_prefix, sizeof(int) * (size_t)src->n_segs);
    memcpy(dst->tokens, src->tokens, sizeof(int) * (size_t)src->n_rows);
    memcpy(dst->pos, src->pos, sizeof(int) * (size_t)src->n_rows);
    memcpy(dst->row_of, src->row_of, sizeof(int) * (size_t)grid);
}

/* Appends a segment of positions p0 .. p0 + len - 1 of grid row b (its
 * tokens from the grid) continuing prefix; returns its index. */
static int add_segment(PackedLayout *l, const int *tokens, int b, int p0, int len, int prefix) {
    CHECK(l->n_segs < l->max_segs && l->n_rows + len <= l->max_rows);
    const int s = l->n_segs++, r0 = l->n_rows;
    l->seg_row0[s] = r0;
    l->seg_len[s] = len;
    l->seg_prefix[s] = prefix;
    for (int j = 0; j < len; j++) {
        l->tokens[r0 + j] = tokens[(size_t)b * l->T + p0 + j];
        l->pos[r0 + j] = p0 + j;
        l->row_of[(size_t)b * l->T + p0 + j] = r0 + j;
    }
    l->n_rows += len;
    return s;
}

static void start(PackedLayout *l, int B, int T) {
    CHECK(B >= 1 && T >= 1 && B * T <= l->max_rows && B <= l->max_segs);
    l->B = B;
    l->T = T;
    l->n_rows = l->n_segs = 0;
}

void packed_layout_rows(PackedLayout *l, const int *tokens, const int *n, int B, int T) {
    start(l, B, T);
    for (int i = 0; i < B * T; i++) l->row_of[i] = -1;
    for (int b = 0; b < B; b++) {
        const int len = n ? n[b] : T;
        CHECK(len >= 0 && len <= T);
        if (len > 0) add_segment(l, tokens, b, 0, len, -1);
    }
}

/* 1 if an earlier row than b holds b's key (b was packed with that row). */
static int key_seen(const int *key, int b) {
    for (int a = 0; a < b; a++)
        if (key[a] == key[b]) return 1;
    return 0;
}

void packed_layout_shared(PackedLayout *l, const int *tokens, const int *n, const int *shared,
                          const int *key, int B, int T) {
    start(l, B, T);
    for (int i = 0; i < B * T; i++) l->row_of[i] = -1;
    /* each key's rows together, at its first row, so the segments that
     * continue one prefix follow it directly */
    for (int b = 0; b < B; b++) {
        CHECK(n[b] >= 0 && n[b] <= T);
        if (key[b] >= 0 && key_seen(key, b)) continue;
        int count = 1;
        for (int c = b + 1; key[b] >= 0 && c < B; c++) count += key[c] == key[b];
        const int p = key[b] >= 0 ? shared[b] : 0;
        if (count < 2 || p == 0) { /* nothing to share: one segment per row */
            for (int c = b; c < B; c++)
                if ((c == b || (key[b] >= 0 && key[c] == key[b])) && n[c] > 0)
                    add_segment(l, tokens, c, 0, n[c], -1);
            continue;
        }
        CHECK(p <= n[b]);
        const int prefix = add_segment(l, tokens, b, 0, p, -1), r0 = l->seg_row0[prefix];
        for (int c = b; c < B; c++) {
            if (key[c] != key[b]) continue;
            CHECK(shared[c] == p && n[c] >= p);
            for (int t = 0; t < p; t++) {
                CHECK(tokens[(size_t)c * T + t] == l->tokens[r0 + t]); /* the caller's promise */
                l->row_of[(size_t)c * T + t] = r0 + t;
            }
            if (n[c] > p) add_segment(l, tokens, c, p, n[c] - p, prefix);
        }
    }
}

int packed_layout_run(const PackedLayout *l, int s0, PackedRun *run) {
    CHECK(s0 >= 0 && s0 < l->n_segs);
    const int prefix = l->seg_prefix[s0];
    int s1 = s0 + 1, longest = l->seg_len[s0];
    while (prefix >= 0 && s1 < l->n_segs && l->seg_prefix[s1] == prefix) {
        if (l->seg_len[s1] > longest) longest = l->seg_len[s1];
        s1++;
    }
    run->s0 = s0;
    run->s1 = s1;
    run->q0 = l->seg_row0[s0];
    run->nq = l->seg_row0[s1 - 1] + l->seg_len[s1 - 1] - run->q0;
    run->p0 = prefix >= 0 ? l->seg_row0[prefix] : 0;
    run->np = prefix >= 0 ? l->seg_len[prefix] : 0;
    run->W = run->np + longest;
    return s1;
}

long packed_layout_att_floats(const PackedLayout *l) {
    long total = 0;
    PackedRun r;
    for (int s = 0; s < l->n_segs;) {
        s = packed_layout_run(l, s, &r);
        total += (long)r.nq * r.W;
    }
    return total;
}
