/* task_review.c: the review task, an open-ended generation task with a
 * hidden preference, so that the RLHF loop (comparisons, a reward model,
 * RL against it) runs with no outside data.
 *
 * Prompt: a short topic, "<adjective> <noun>: " ("fresh tea: "), from 32
 * adjectives x 32 nouns (1024 prompts; about 20 in the eval split at
 * eval_permille 20, listed exactly). Completion: a short review, words of a
 * 24-word vocabulary separated by single spaces ("good warm tea" is not
 * one: "tea" is not in it; "so good and warm" is). Every word is 2..4
 * lowercase letters, so a character model writes a word in a few tokens.
 *
 * The demonstrator writes 1..review_demo_words [6] words, each drawn
 * uniformly from the vocabulary: its completions are all well formed and
 * differ widely in the hidden preference (about half score above the
 * middle), which gives an SFT policy variety that comparisons can rank.
 *
 * The hidden preference (task_review.h has the formula): a word from a
 * positive list is worth +1, one from a negative list -1, the rest 0;
 * using one word more than twice costs 3 per extra use, and every word
 * past the eighth costs 2. Mapped to (0, 1) by a logistic; a malformed
 * completion scores 0.
 *
 * Why it is hidden: the word lists and the penalties are never given to
 * the trainer. A reward model learns the preference only through the
 * synthetic labeler's comparisons (labeler.h, `grpo rm-data`), as a real
 * one learns human taste from human comparisons. The penalties are what
 * makes over-optimisation observable: the SFT policy's samples have at
 * most review_demo_words words and rarely use a word three times, so the
 * comparisons barely show either penalty. A reward model fitted to them
 * learns "more positive words is better" and keeps rising on completions
 * that repeat the best word or run on, where the truth turns down (its
 * optimum is eight positive words, none used more than twice).
 *
 * Components: [0] "accuracy" = well formed (non-empty, only vocabulary
 * words, single spaces, finished by itself): what gates the reward mix
 * (reward_mix.h), so a learned reward only ranks well-formed text;
 * [1] "preference" = the true score, weight [task] w_preference [0]: the
 * trainer reports it (metrics, evaluation, the over-optimisation alarm)
 * and never trains on it unless told to. Reward.correct is well formed.
 * TaskItem.answer is empty (there is no reference answer) and .solution
 * the best completion under the preference, for reference. */
#include "task_review.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "task.h"
#include "util.h"

enum { N_ADJ = 32, N_NOUN = 32, N_WORDS = 24, N_POSITIVE = 6, N_NEGATIVE = 6 };

static const char *const ADJ[N_ADJ] = {
    "new",   "old",   "big",   "red",   "blue",  "long",  "tiny", "dark",
    "loud",  "slow",  "fast",  "cheap", "fresh", "green", "quiet", "plain",
    "round", "sharp", "soft",  "wild",  "small", "tall",  "thin", "wide",
    "deep",  "hot",   "pink",  "gray",  "bold",  "calm",  "rich", "thick"};
static const char *const NOUN[N_NOUN] = {
    "tea",  "soup", "film", "song", "park", "book", "game", "cake",
    "shoe", "lamp", "bike", "road", "room", "town", "show", "meal",
    "desk", "coat", "shop", "play", "bus",  "cat",  "dog",  "sea",
    "hat",  "bag",  "car",  "cup",  "pen",  "box",  "bed",  "tree"};

/* The vocabulary: the positive list, then the negative one, then the
 * neutral words. The order is the hidden part: nothing outside this file
 * is told which word is which. */
static const char *const WORDS[N_WORDS] = {
    "good", "nice", "warm", "fun",  "kind", "neat", /* positive */
    "bad",  "dull", "cold", "sad",  "odd",  "poor", /* negative */
    "it",   "is",   "was",  "so",   "very", "and",  "but", "too", "my", "all", "just", "one"};

/* Every character of a prompt or a well-formed completion. */
static const char REVIEW_CHARS[] = "abcdefghijklmnopqrstuvwxyz :";

typedef struct {
    TaskParams p;
    uint64_t seed;
} ReviewState;

/* Index of the word s[0..n) in WORDS, or -1. */
static int word_index(const char *s, size_t n) {
    for (int i = 0; i < N_WORDS; i++)
        if (strlen(WORDS[i]) == n && memcmp(WORDS[i], s, n) == 0) return i;
    return -1;
}

float review_score_of_raw(int raw) {
    return (float)(1.0 / (1.0 + exp(-(double)raw / REVIEW_SCALE)));
}

int review_score(const char *completion, int finished, ReviewScore *out) {
    memset(out, 0, sizeof *out);
    int count[N_WORDS] = {0}, n = 0;
    const char *p = completion;
    if (!finished || !*p) return 0;
    for (;;) {
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int w = len ? word_index(p, len) : -1; /* len 0: a leading, double or trailing space */
        if (w < 0) return 0;
        count[w]++;
        n++;
        if (!end) break;
        p = end + 1;
    }
    ReviewScore s = {.well_formed = 1, .words = n};
    for (int w = 0; w < N_WORDS; w++) {
        if (w < N_POSITIVE) s.positive += count[w];
        else if (w < N_POSITIVE + N_NEGATIVE) s.negative += count[w];
        if (count[w] > REVIEW_MAX_REPEAT) s.repeats_over += count[w] - REVIEW_MAX_REPEAT;
    }
    s.words_over = n > REVIEW_FREE_WORDS ? n - REVIEW_FREE_WORDS : 0;
    s.raw = s.positive - s.negative - REVIEW_REPEAT_COST * s.repeats_over -
            REVIEW_LENGTH_COST * s.words_over;
    s.score = review_score_of_raw(s.raw);
    *out = s;
    return 1;
}

/* The best completion: the positive words twice each, up to the free
 * length ("good nice warm fun kind neat good nice"). */
static void best_completion(char *out, size_t cap) {
    out[0] = '\0';
    for (int i = 0; i < REVIEW_FREE_WORDS; i++) {
        if (i) strncat(out, " ", cap - strlen(out) - 1);
        strncat(out, WORDS[i % N_POSITIVE], cap - strlen(out) - 1);
    }
}

/* The item of topic (adjective a, noun b). */
static void review_make(int a, int b, TaskItem *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->prompt, sizeof out->prompt, "%s %s: ", ADJ[a], NOUN[b]);
    best_completion(out->solution, sizeof out->solution);
    out->id = task_item_id(out->prompt);
}

/* Draws one candidate item (TaskGenFn). */
static void review_gen(const Task *t, Rng *r, TaskItem *out) {
    (void)t;
    int a = (int)rng_below(r, N_ADJ), b = (int)rng_below(r, N_NOUN);
    review_make(a, b, out);
}

static int review_sample(const Task *t, TaskSplit split, uint64_t stream, uint64_t index,
                         TaskItem *out) {
    const ReviewState *s = t->state;
    return task_sample_generated(t, review_gen, s->seed, s->p.eval_permille, split, stream, index,
                                 out);
}

/* Task.eval_split: every topic in the eval split; key = a * N_NOUN + b. */
static int review_eval_split(const Task *t, uint64_t **keys) {
    const ReviewState *s = t->state;
    uint64_t *k = xmalloc(sizeof(uint64_t) * N_ADJ * N_NOUN);
    int n = 0;
    TaskItem it;
    for (int a = 0; a < N_ADJ; a++)
        for (int b = 0; b < N_NOUN; b++) {
            review_make(a, b, &it);
            if (task_id_is_eval(it.id, s->p.eval_permille)) k[n++] = (uint64_t)(a * N_NOUN + b);
        }
    task_shuffle_keys(k, n, s->seed);
    *keys = k;
    return n;
}

static int review_eval_item(const Task *t, uint64_t key, TaskItem *out) {
    (void)t;
    if (key >= (uint64_t)N_ADJ * N_NOUN) return -1;
    review_make((int)(key / N_NOUN), (int)(key % N_NOUN), out);
    return 0;
}

/* Task.demonstrate: 1..review_demo_words uniform words (see the file
 * comment); ignores the topic, as the preference does. */
static int review_demonstrate(const Task *t, const TaskItem *item, Rng *rng, char *out,
                              size_t cap) {
    (void)item;
    const ReviewState *s = t->state;
    int n = 1 + (int)rng_below(rng, (uint32_t)s->p.review_demo_words);
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        const char *w = WORDS[rng_below(rng, N_WORDS)];
        size_t wl = strlen(w);
        if (len + (i > 0) + wl + 1 > cap) return -1;
        if (i) out[len++] = ' ';
        memcpy(out + len, w, wl);
        len += wl;
    }
    out[len] = '\0';
    return 0;
}

static void review_verify(const Task *t, const TaskItem *item, const char *completion,
                          int finished, Reward *out) {
    (void)item;
    memset(out, 0, sizeof *out);
    ReviewScore s;
    out->n = 2;
    out->correct = review_score(completion, finished, &s);
    out->value[0] = (float)out->correct;
    out->value[1] = s.score;
    reward_finish(t, out);
}

static int review_check_tokenizer(const Task *t, const Tokenizer *tok, char *err, size_t errlen) {
    int ids[sizeof REVIEW_CHARS], bad = -1;
    if (tokenizer_encode(tok, REVIEW_CHARS, ids, (int)sizeof ids, &bad) >= 0) return 0;
    char what[32] = "?";
    if (bad >= 0) tokenizer_describe_char(REVIEW_CHARS, bad, what, sizeof what);
    set_err(err, errlen, "task review: the tokenizer has no character %s, which prompts and "
            "completions use", what);
    return -1;
}

/* Length of the longest of words[0..n). */
static int longest(const char *const *words, int n) {
    int m = 0;
    for (int i = 0; i < n; i++)
        if ((int)strlen(words[i]) > m) m = (int)strlen(words[i]);
    return m;
}

static void review_destroy(Task *t) {
    if (!t) return;
    xfree(t->state);
    xfree(t);
}

Task *task_review_create(const TaskParams *p, uint64_t seed, char *err, size_t errlen) {
    if (p->review_demo_words < 1 || p->review_demo_words > REVIEW_MAX_DEMO_WORDS) {
        set_err(err, errlen, "[task] review_demo_words = %d: expected 1..%d", p->review_demo_words,
                REVIEW_MAX_DEMO_WORDS);
        return NULL;
    }
    ReviewState *s = xcalloc(1, sizeof *s);
    s->p = *p;
    s->seed = seed;
    Task *t = xcalloc(1, sizeof *t);
    t->name = "review";
    t->n_components = 2;
    t->component_names[0] = "accuracy";
    t->component_names[1] = "preference";
    t->weights[0] = p->weights[0];
    t->weights[1] = p->review_w_preference;
    t->sample = review_sample;
    t->demonstrate = review_demonstrate;
    t->verify = review_verify;
    t->eval_split = review_eval_split;
    t->eval_item = review_eval_item;
    t->check_tokenizer = review_check_tokenizer;
    t->destroy = review_destroy;
    t->state = s;
    /* "adj noun: "; the free length in the longest words: the
     * preference's optimum must fit, a longer completion only loses */
    t->max_prompt_chars = longest(ADJ, N_ADJ) + 1 + longest(NOUN, N_NOUN) + 2;
    t->max_completion_chars = REVIEW_FREE_WORDS * (longest(WORDS, N_WORDS) + 1) - 1;
    return t;
}
