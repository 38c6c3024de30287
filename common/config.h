/* config.h: the config core. It knows no module: it reads INI (inih),
 * applies "section.key=value" overrides, validates, and writes the
 * effective config. What the keys are is declared by the modules that own
 * them, each as a CfgSection (a table of keys into the module's own
 * settings struct, with defaults, bounds and help, and an optional check).
 * The program registers the sections it runs with (config_new); a module
 * reads its settings with config_get(cfg, &its_section).
 *
 * Several sections may share one INI name ([grpo] holds the keys both
 * sides of the wire agree on, from proto/, and the learner's own, from
 * learner/): a key belongs to exactly one of them. A key marked
 * run-defining changes what a run computes (model shape, seed, group size);
 * resuming with a different value is refused. */
#ifndef COMMON_CONFIG_H
#define COMMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { CFG_STR_MAX = 256 };

typedef enum { CFG_INT, CFG_U64, CFG_FLOAT, CFG_STR, CFG_ENUM } CfgType;

typedef struct {
    const char *key;
    CfgType type;
    size_t offset, size;       /* of the field in the section's struct */
    const char *def;           /* default, as text */
    double lo, hi;             /* bounds for numbers */
    const char *const *names;  /* CFG_ENUM: allowed values, NULL-terminated */
    int run_defining;          /* changing it on resume is refused */
    const char *help;
} CfgKey;

typedef struct Config Config;

typedef struct {
    const char *name;          /* INI section */
    size_t size;               /* bytes of the owner's settings struct */
    const CfgKey *keys;
    int n_keys;
    /* Optional: fields that are not keys, after the key defaults. */
    void (*defaults)(void *settings);
    /* Optional: cross-field checks; may read other sections of cfg. 0, or
     * -1 with err naming the keys. */
    int (*validate)(const Config *cfg, const void *settings, char *err, size_t errlen);
} CfgSection;

/* Key-table entries for a field f of settings struct T. */
#define CFG_FIELD(T, f) offsetof(T, f), sizeof(((T *)0)->f)
#define CFG_I(T, k, f, d, lo, hi, rd, h) {k, CFG_INT, CFG_FIELD(T, f), d, lo, hi, NULL, rd, h}
#define CFG_U(T, k, f, d, rd, h) {k, CFG_U64, CFG_FIELD(T, f), d, 0, 0, NULL, rd, h}
#define CFG_F(T, k, f, d, lo, hi, rd, h) {k, CFG_FLOAT, CFG_FIELD(T, f), d, lo, hi, NULL, rd, h}
#define CFG_S(T, k, f, d, rd, h) {k, CFG_STR, CFG_FIELD(T, f), d, 0, 0, NULL, rd, h}
#define CFG_E(T, k, f, d, names, rd, h) {k, CFG_ENUM, CFG_FIELD(T, f), d, 0, 0, names, rd, h}
#define CFG_SECTION(nm, T, keys_, defaults_, validate_)                                          \
    {nm, sizeof(T), keys_, (int)(sizeof keys_ / sizeof keys_[0]), defaults_, validate_}

/* A config holding the given sections (in dump order), at their defaults.
 * Dies on a bad built-in default or a key declared twice. */
Config *config_new(const CfgSection *const *sections, int n);
/* A config with the same sections as c, at their defaults. */
Config *config_new_like(const Config *c);
void config_free(Config *c);
/* dst takes src's values (the same sections: config_new_like). */
void config_copy(Config *dst, const Config *src);
/* Every key back to its default, none marked as given. */
void config_reset(Config *c);
/* The settings struct of section s (dies if c does not hold s). */
const void *config_get(const Config *c, const CfgSection *s);
void *config_get_mut(Config *c, const CfgSection *s);
/* 1 if section.key was given by a config file or an override. */
int config_was_set(const Config *c, const char *section, const char *key);

/* Reads an INI file over c. Returns 0, or -1 with err naming file:line and
 * the key (unknown section/key, bad value, allowed values, a key given
 * twice in the file, a malformed [section] line; a path that is not a
 * regular file). */
int config_load_file(Config *c, const char *path, char *err, size_t errlen);
/* Reads INI text (name is used in messages) over c, as config_load_file. */
int config_load_string(Config *c, const char *text, const char *name, char *err, size_t errlen);
/* Applies "section.key=value". Returns 0, or -1 with err. */
int config_set(Config *c, const char *assignment, char *err, size_t errlen);
/* Sets section.key from text without marking it as given by the user
 * (what actually ran, e.g. the model shape read from a checkpoint). */
int config_set_value(Config *c, const char *section, const char *key, const char *value,
                     char *err, size_t errlen);
/* Runs every section's checks. 0 or -1 with err. */
int config_validate(const Config *c, char *err, size_t errlen);
/* Writes the effective config as INI (loadable by config_load_file), with
 * each key's help as a comment. */
void config_write(const Config *c, FILE *f);
/* The effective config as INI text (malloc'd; the caller frees). */
char *config_to_string(const Config *c);
/* Lists the keys whose values differ between a and b (same sections);
 * returns how many of them are run-defining, and writes their names
 * (comma separated) to names. Harmless differences go to changed. */
int config_diff(const Config *a, const Config *b, char *names, size_t names_len, char *changed,
                size_t changed_len);

#endif
