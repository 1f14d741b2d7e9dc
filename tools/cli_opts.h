/* A small table-driven option parser for the metrix subcommands (private to the CLI).
 *
 * A command describes its options in an mx_cli_opt table (ended by MX_CLI_END) that points at
 * its own variables, which hold the defaults; mx_cli_parse then accepts "--name value" and
 * "--name=value", checks numbers and ranges, and prints the --help text (every option with its
 * default and a one-line description) generated from the same table. Errors are one line on
 * stderr, "metrix CMD: --opt 'VALUE': expected ...", and mean exit code 2. */
#ifndef MX_TOOLS_CLI_OPTS_H
#define MX_TOOLS_CLI_OPTS_H

#include <limits.h>
#include <stdio.h>

typedef enum mx_cli_kind {
    MX_CLI_STRING, /* const char **dst; with choices "a|b|c" the value must be one of them */
    MX_CLI_INT,    /* int *dst, lo <= value <= hi */
    MX_CLI_LONG,   /* long long *dst, lo <= value <= hi */
    MX_CLI_DOUBLE, /* double *dst, flo <= value <= fhi (finite) */
    MX_CLI_FLAG,   /* int *dst = lo when given; takes no value */
    MX_CLI_CUSTOM, /* parse(cmd, name, value, dst): 1 ok, 0 after printing one error line */
} mx_cli_kind;

typedef struct mx_cli_opt {
    const char *name;    /* "--batch" */
    mx_cli_kind kind;    /* what the value is and where it goes */
    void *dst;           /* where the value goes; its initial content is the default */
    const char *metavar; /* "B" in the help (NULL for flags) */
    long long lo, hi;    /* MX_CLI_INT / MX_CLI_LONG range; MX_CLI_FLAG: the value stored */
    double flo, fhi;     /* MX_CLI_DOUBLE range */
    const char *choices; /* MX_CLI_STRING: "a|b|c", or NULL for any text */
    int (*parse)(const char *cmd, const char *name, const char *value, void *dst);
    const char *help; /* one-line description */
    const char *def;  /* the default as shown in --help; NULL: the initial *dst ("" shows none) */
} mx_cli_opt;

typedef struct mx_cli_spec {
    const char *cmd;        /* "bench knn": messages start "metrix bench knn: " */
    const char *usage;      /* printed before the option list (ends with a newline) */
    const mx_cli_opt *opts; /* ended by MX_CLI_END */
    const char *footer;     /* printed after the option list, or NULL */
    const char *hint;       /* unknown options: this, not "metrix CMD --help ...", or NULL */
    /* the command's other mode, parsed instead when its first option (also->opts[0]) is given;
     * --help prints both */
    const struct mx_cli_spec *also;
} mx_cli_spec;

/* Table rows. Ranges are inclusive; MX_CLI_NOMAX / MX_CLI_NOMIN leave a side open. */
#define MX_CLI_NOMIN LLONG_MIN
#define MX_CLI_NOMAX LLONG_MAX
#define MX_CLI_STR(name, meta, dst, help, def)                                                     \
    { name, MX_CLI_STRING, dst, meta, 0, 0, 0, 0, NULL, NULL, help, def }
#define MX_CLI_CHOICE(name, meta, dst, choices, help, def)                                         \
    { name, MX_CLI_STRING, dst, meta, 0, 0, 0, 0, choices, NULL, help, def }
#define MX_CLI_I(name, meta, dst, lo, hi, help, def)                                               \
    { name, MX_CLI_INT, dst, meta, lo, hi, 0, 0, NULL, NULL, help, def }
#define MX_CLI_LL(name, meta, dst, lo, hi, help, def)                                              \
    { name, MX_CLI_LONG, dst, meta, lo, hi, 0, 0, NULL, NULL, help, def }
#define MX_CLI_F(name, meta, dst, lo, hi, help, def)                                               \
    { name, MX_CLI_DOUBLE, dst, meta, 0, 0, lo, hi, NULL, NULL, help, def }
#define MX_CLI_FLAGV(name, dst, value, help)                                                       \
    { name, MX_CLI_FLAG, dst, NULL, value, 0, 0, 0, NULL, NULL, help, NULL }
#define MX_CLI_FN(name, meta, dst, fn, help, def)                                                  \
    { name, MX_CLI_CUSTOM, dst, meta, 0, 0, 0, 0, NULL, fn, help, def }
#define MX_CLI_END                                                                                 \
    { NULL, MX_CLI_FLAG, NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL }

/* --threads T, 0 = all cores, into an int (the same row in every command). */
#define MX_CLI_THREADS(dst) MX_CLI_I("--threads", "T", dst, 0, 4096, "threads", "0 = all cores")

/* Parses argv[1 .. argc-1] (argv[0] is the command name) with spec, or with spec->also when
 * argv holds spec->also->opts[0].name. Returns -1 when the command should go on, 0 after
 * printing --help / -h to stdout, 2 after printing a usage error to stderr. */
int mx_cli_parse(const mx_cli_spec *spec, int argc, char **argv);

/* The --help text of spec (and of spec->also). */
void mx_cli_help(const mx_cli_spec *spec, FILE *f);

/* The usage error line "metrix CMD: NAME 'VALUE': expected WHAT"; returns 0 (for callbacks). */
int mx_cli_expected(const char *cmd, const char *name, const char *value, const char *what);

/* MX_CLI_CUSTOM parser of --split test|val|train|query|gallery into an mx_split (through
 * mx_cli_split). */
int mx_cli_parse_split(const char *cmd, const char *name, const char *value, void *dst);

/* The first rows of eval's and embed's --run mode: --run DIR (first: it selects the mode, see
 * mx_cli_spec.also), --checkpoint best|last|FILE, --split test|val|train. */
/* --threads of a command that opens a run: -1 keeps the run's own setting */
#define MX_CLI_RUN_THREADS(dst)                                                                    \
    MX_CLI_I("--threads", "T", dst, -1, 4096, "threads (0 = all cores)", "the run's own setting")

#define MX_CLI_RUN_ROWS(dir, ckpt, split)                                                          \
    MX_CLI_STR("--run", "DIR", dir, "a trained run's directory (required)", ""),                   \
        MX_CLI_STR("--checkpoint", "CKPT", ckpt, "best, last or a checkpoint FILE", NULL),         \
        MX_CLI_FN("--split", "SPLIT", split, mx_cli_parse_split,                                   \
                  "the run's split: test, val, train, query or gallery", "test")

#endif
