/* bench_tokenizer.c: encode and decode speed of a 32k-token BPE on 4 MB of
 * text, both kinds.
 *
 * Nothing is downloaded: a Zipf-distributed lexicon of made-up words
 * (syllables) gives the text (words, punctuation, numbers, newlines), and
 * the vocabulary is synthesised from it: for the most frequent words, in
 * frequency order, the merges that build " word" left to right (Ġ w, Ġw o,
 * ...), until the vocabulary holds 32000 tokens. The byte-level tokenizer
 * is read from the tokenizer.json this writes (so its load time is
 * printed too); the SentencePiece one is the same pieces as a tokenizer.bin
 * (score = minus the merge's rank), encoded line by line as prompts are.
 * Figures are CPU seconds of this thread, medians of 3 runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"
#include "rng.h"
#include "tokenizer.h"
#include "util.h"

enum { TEXT_BYTES = 4 << 20, N_WORDS = 60000, TARGET_V = 32000, RUNS = 3 };

static const char *syl[] = {"ka", "to", "ri", "ne", "su", "mo", "la", "pi", "de", "go", "an",
                            "er", "in", "th", "st", "ou", "ch", "ba", "ve", "lu", "ze", "fi",
                            "wo", "ha", "ty", "ex", "qu", "or", "al", "en"};

static char words[N_WORDS][24];

/* GPT-2 byte-to-unicode as UTF-8 (bench-local copy) */
static int put_byte_cp(int b, char *out) {
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE, n = 0;
    for (int k = 0; k < b; k++)
        n += !((k >= '!' && k <= '~') || (k >= 0xA1 && k <= 0xAC) || k >= 0xAE);
    unsigned cp = printable ? (unsigned)b : 256u + (unsigned)n;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

static int put_piece_json(const char *p, size_t n, char *out) {
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"' || c == '\\') out[k++] = '\\';
        k += put_byte_cp(c, out + k);
    }
    return k;
}

/* word index with a Zipf(1) law */
static int zipf(Rng *r, const double *cdf) {
    double u = rng_uniform(r);
    int lo = 0, hi = N_WORDS - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cdf[mid] < u) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

int main(void) {
    Rng r;
    rng_seed(&r, 42, 0);
    for (int i = 0; i < N_WORDS; i++) {
        int ns = 1 + (int)rng_below(&r, 4);
        words[i][0] = '\0';
        for (int s = 0; s < ns; s++) strcat(words[i], syl[rng_below(&r, 30)]);
    }
    double *cdf = xmalloc(sizeof(double) * N_WORDS), z = 0;
    for (int i = 0; i < N_WORDS; i++) z += 1.0 / (i + 1);
    for (int i = 0; i < N_WORDS; i++) cdf[i] = (i ? cdf[i - 1] : 0) + 1.0 / (i + 1) / z;
    char *text = xmalloc(TEXT_BYTES + 64);
    size_t n = 0;
    while (n < TEXT_BYTES) {
        const char *w = words[zipf(&r, cdf)];
        text[n++] = ' ';
        size_t k = strlen(w);
        memcpy(text + n, w, k);
        n += k;
        unsigned x = (unsigned)rng_below(&r, 40);
        if (x == 0) text[n++] = '\n';
        else if (x == 1) text[n++] = ',';
        else if (x == 2) n += (size_t)sprintf(text + n, " %u", (unsigned)rng_below(&r, 10000));
        else if (x == 3) text[n++] = '.';
    }
    text[n] = '\0';

    /* the vocabulary: 256 bytes, then prefix merges of the frequent words */
    char **piece = xmalloc(sizeof(char *) * (TARGET_V + 64));
    int V = 256, n_merges = 0;
    int (*merge)[2] = xmalloc(sizeof(int[2]) * TARGET_V);
    for (int b = 0; b < 256; b++) {
        piece[b] = xmalloc(2);
        piece[b][0] = (char)b;
        piece[b][1] = '\0';
    }
    /* prefix -> id: a linear probe table over the pieces */
    enum { H = 1 << 17 };
    int *table = xmalloc(sizeof(int) * H);
    memset(table, 0xff, sizeof(int) * H);
    for (int b = 1; b < 256; b++) {
        uint32_t h = (uint32_t)hash64(piece[b], 1) & (H - 1);
        while (table[h] >= 0) h = (h + 1) & (H - 1);
        table[h] = b;
    }
    for (int wi = 0; wi < N_WORDS && V < TARGET_V; wi++) {
        char w[32] = " ";
        memcpy(w + 1, words[wi], strlen(words[wi]) + 1);
        int prev = (unsigned char)w[0];
        for (size_t k = 2; k <= strlen(w) && V < TARGET_V; k++) {
            uint32_t h = (uint32_t)hash64(w, k) & (H - 1);
            int found = -1;
            for (; table[h] >= 0; h = (h + 1) & (H - 1))
                if (strlen(piece[table[h]]) == k && memcmp(piece[table[h]], w, k) == 0) {
                    found = table[h];
                    break;
                }
            if (found < 0) {
                piece[V] = xmalloc(k + 1);
                memcpy(piece[V], w, k);
                piece[V][k] = '\0';
                table[h] = V;
                merge[n_merges][0] = prev;
                merge[n_merges][1] = (unsigned char)w[k - 1];
                n_merges++;
                found = V++;
            }
            prev = found;
        }
    }
    /* tokenizer.json */
    char path[128], bin[128];
    snprintf(path, sizeof path, "/tmp/grpo_bench_tok_%d.json", (int)getpid());
    snprintf(bin, sizeof bin, "/tmp/grpo_bench_tok_%d.bin", (int)getpid());
    FILE *f = xfopen(path, "wb");
    char buf[256], buf2[256];
    fprintf(f, "{\"added_tokens\": [{\"id\": %d, \"content\": \"<|endoftext|>\", \"special\": "
               "true}], \"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": "
               "\"BPE\", \"vocab\": {", V);
    for (int id = 0; id < V; id++) {
        int k = put_piece_json(piece[id], id == 0 ? 1 : strlen(piece[id]), buf);
        fprintf(f, "%s\"%.*s\": %d", id ? ", " : "", k, buf, id);
    }
    fprintf(f, "}, \"merges\": [");
    for (int m = 0; m < n_merges; m++) {
        int a = merge[m][0], b = merge[m][1];
        int ka = put_piece_json(piece[a], a == 0 ? 1 : strlen(piece[a]), buf);
        int kb = put_piece_json(piece[b], b == 0 ? 1 : strlen(piece[b]), buf2);
        fprintf(f, "%s[\"%.*s\", \"%.*s\"]", m ? ", " : "", ka, buf, kb, buf2);
    }
    fprintf(f, "]}}");
    fclose(f);
    /* tokenizer.bin: <unk>, BOS, EOS, <0xNN>, printable ASCII (SentencePiece
     * merges start from characters, not from byte tokens), then the
     * pieces >= 256 */
    f = xfopen(bin, "wb");
    uint32_t maxlen = 32;
    fwrite(&maxlen, 4, 1, f);
    for (int id = 0; id < 3 + 256 + 95 + V - 256; id++) {
        char tmp[40];
        const char *p = tmp;
        float sc = 0;
        if (id == 0) p = "<unk>";
        else if (id == 1) p = "\n<s>\n";
        else if (id == 2) p = "\n</s>\n";
        else if (id < 259) snprintf(tmp, sizeof tmp, "<0x%02X>", id - 3);
        else if (id < 259 + 95) snprintf(tmp, sizeof tmp, "%c", 32 + id - 259);
        else {
            p = piece[id - 259 - 95 + 256];
            sc = -(float)(id - 259 - 95);
        }
        uint32_t len = (uint32_t)strlen(p);
        fwrite(&sc, 4, 1, f);
        fwrite(&len, 4, 1, f);
        fwrite(p, 1, len, f);
    }
    fclose(f);

    Tokenizer bl, sp;
    char err[512];
    double t0 = cpu_seconds();
    if (tokenizer_load_json(&bl, path, err, sizeof err)) die("%s", err);
    double t_load = cpu_seconds() - t0;
    t0 = cpu_seconds();
    if (tokenizer_load_llama2c(&sp, bin, err, sizeof err)) die("%s", err);
    double t_load_bin = cpu_seconds() - t0;
    unlink(path);
    unlink(bin);
    printf("text %.1f MB (Zipf words, punctuation, numbers); vocabularies %d (byte-level, %d "
           "merges, tokenizer.json load %.2f s) and %d (SentencePiece, tokenizer.bin load %.2f s)\n",
           n / 1e6, bl.vocab_size, n_merges, t_load, sp.vocab_size, t_load_bin);

    int *ids = xmalloc(sizeof(int) * (n + 1));
    char *back = xmalloc(n + 1);
    for (int kind = 0; kind < 2; kind++) {
        const Tokenizer *t = kind ? &sp : &bl;
        double enc[RUNS], dec[RUNS];
        int nt = 0;
        for (int run = 0; run < RUNS; run++) {
            t0 = cpu_seconds();
            if (kind == 0) {
                nt = tokenizer_encode(t, text, ids, (int)n + 1, NULL);
            } else { /* line by line: SentencePiece merges a whole text at once */
                nt = 0;
                char *line = text;
                while (*line) {
                    char *end = strchr(line, '\n');
                    size_t len = end ? (size_t)(end - line) : strlen(line);
                    char save = line[len];
                    line[len] = '\0';
                    int k = tokenizer_encode(t, line, ids + nt, (int)(n + 1 - nt), NULL);
                    line[len] = save;
                    if (k < 0) die("encode failed");
                    nt += k;
                    line += len + (end != NULL);
                }
            }
            enc[run] = cpu_seconds() - t0;
            t0 = cpu_seconds();
            if (kind == 0 && tokenizer_decode(t, ids, nt, back, n + 1) != (int)n) die("decode");
            if (kind == 1) tokenizer_decode(t, ids, nt, back, n + 1);
            dec[run] = cpu_seconds() - t0;
        }
        if (kind == 0 && memcmp(back, text, n) != 0) die("byte-level round trip broke");
        const double e = median(enc, RUNS), d = median(dec, RUNS);
        printf("  %-14s encode %9.0f tokens/s (%5.2f MB/s, %.2f bytes/token)  decode %9.0f "
               "tokens/s\n", kind ? "SentencePiece" : "byte-level", nt / e, n / e / 1e6,
               (double)n / nt, nt / d);
    }
    tokenizer_free(&bl);
    tokenizer_free(&sp);
    for (int id = 0; id < V; id++) xfree(piece[id]);
    xfree(piece);
    xfree(merge);
    xfree(table);
    xfree(ids);
    xfree(back);
    xfree(text);
    xfree(cdf);
    return 0;
}
