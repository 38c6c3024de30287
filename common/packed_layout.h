/* packed_layout.h: the set of distinct positions a training forward runs
 * on, packed into rows, and where each position of the (B, T) grid of a
 * right-padded batch lives among them.
 *
 * Attention is causal and a row is its prompt followed by its completion,
 * so a position's activations depend on the tokens up to it alone: rows
 * that share a prompt have the same activations at every prompt position,
 * in every layer. A packed layout computes those once per prompt (its
 * prefix segment) and then each row's own positions (a segment that
 * continues the prefix), and computes no padding at all.
 *
 * A segment is a run of packed rows [row0, row0 + len) holding positions
 * p .. p + len - 1 of one sequence, where p is the length of its prefix
 * segment (0 without one). Its queries attend to every key of its prefix
 * and, causally, to its own keys. A prefix has no prefix of its own and
 * comes before the segments that continue it; those follow it and one
 * another directly (so attention can treat their queries as one block
 * against the shared prefix keys).
 *
 * The row layout (packed_layout_rows) shares nothing: each grid row is
 * one segment of its real positions, padding left out; with every row
 * full it is the (B, T) grid itself, packed row b*T + t = grid position
 * (b, t). */
#ifndef COMMON_PACKED_LAYOUT_H
#define COMMON_PACKED_LAYOUT_H

typedef struct {
    int max_rows, max_segs;  /* capacity */
    int B, T;                /* the grid it maps */
    int n_rows;              /* packed positions */
    int n_segs;
    int *seg_row0;           /* (max_segs) first packed row */
    int *seg_len;            /* (max_segs) positions (>= 1) */
    int *seg_prefix;         /* (max_segs) the segment this one continues, or -1 */
    int *tokens;             /* (max_rows) input token of each packed row */
    int *pos;                /* (max_rows) its position in its sequence (RoPE) */
    int *row_of;             /* (max_rows) packed row of grid position b*T + t, -1: padding */
} PackedLayout;

/* Room for a grid of up to max_B x max_T. */
void packed_layout_init(PackedLayout *l, int max_B, int max_T);
void packed_layout_free(PackedLayout *l);
/* Copies src into dst (dst's capacity must hold it). */
void packed_layout_copy(PackedLayout *dst, const PackedLayout *src);

/* The layout of B right-padded rows of T grid positions (tokens (B, T)),
 * row b's first n[b] (in [0, T]) real and each row its own segment, the
 * padding computed nowhere; n NULL: every position of the grid, in grid
 * order. */
void packed_layout_rows(PackedLayout *l, const int *tokens, const int *n, int B, int T);

/* The shared layout of B right-padded rows of T grid positions: row b has
 * n[b] real positions (tokens (B, T), the rest padding) and shares its
 * first shared[b] positions (<= n[b]) with every row of the same key[b]
 * (>= 0; -1: shares with none); rows of one key must agree on shared[] and
 * on those positions' tokens (the caller's check). A key held by a single
 * row makes no prefix: that row is one segment. */
void packed_layout_shared(PackedLayout *l, const int *tokens, const int *n, const int *shared,
                          const int *key, int B, int T);

/* Floats of attention probabilities one layer and head keep for l
 * (attention_forward_packed's att, per head): at most n_rows * T. */
long packed_layout_att_floats(const PackedLayout *l);

/* A run: segments [s0, s1) continuing the same prefix (or a lone segment
 * without one), with their rows contiguous; queries rows [q0, q0 + nq),
 * prefix keys rows [p0, p0 + np) (np = 0: none), and every row's scores
 * stored W = np + longest segment wide. Returns s1 (the next run's s0). */
typedef struct {
    int s0, s1, q0, nq, p0, np, W;
} PackedRun;
int packed_layout_run(const PackedLayout *l, int s0, PackedRun *run);

#endif
