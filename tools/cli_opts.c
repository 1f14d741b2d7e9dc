/* The table-driven option parser of the metrix subcommands (see cli_opts.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli_opts.h"
#include "cmd.h"

#define HELP_COLUMNS 100 /* the help text wraps its descriptions to this width */

/* The row whose name is the first len characters of a, or NULL. */
static const mx_cli_opt *find(const mx_cli_opt *opts, const char *a, size_t len) {
    for (const mx_cli_opt *o = opts; o->name; o++)
        if (strlen(o->name) == len && !strncmp(o->name, a, len)) return o;
    return NULL;
}

/* The length of an argument's option name: "--name=value" -> strlen("--name"). */
static size_t name_len(const char *a) {
    const char *eq = strncmp(a, "--", 2) ? NULL : strchr(a, '=');
    return eq ? (size_t)(eq - a) : strlen(a);
}

static int is_help(const char *a) {
    return !strcmp(a, "--help") || !strcmp(a, "-h");
}

int mx_cli_expected(const char *cmd, const char *name, const char *value, const char *what) {
    fprintf(stderr, "metrix %s: %s '%s': expected %s\n", cmd, name, value, what);
    return 0;
}

int mx_cli_parse_split(const char *cmd, const char *name, const char *value, void *dst) {
    (void)name;
    return mx_cli_split(cmd, value, dst);
}

/* 1 when argv[1 ..] holds the option name (as "--name" or "--name=..."). */
static int has_option(int argc, char **argv, const char *name) {
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (name_len(argv[i]) == n && !strncmp(argv[i], name, n)) return 1;
    return 0;
}

/* "an integer >= 1", "an integer in 0 .. 4096", ... into buf. */
static const char *int_range(char *buf, size_t size, long long lo, long long hi) {
    if (lo == LLONG_MIN && hi == LLONG_MAX)
        snprintf(buf, size, "an integer");
    else if (hi == LLONG_MAX)
        snprintf(buf, size, "an integer >= %lld", lo);
    else if (lo == LLONG_MIN)
        snprintf(buf, size, "an integer <= %lld", hi);
    else
        snprintf(buf, size, "an integer in %lld .. %lld", lo, hi);
    return buf;
}

static const char *float_range(char *buf, size_t size, double lo, double hi) {
    if (isinf(lo) && isinf(hi))
        snprintf(buf, size, "a finite number");
    else if (isinf(hi))
        snprintf(buf, size, "a number >= %g", lo);
    else if (isinf(lo))
        snprintf(buf, size, "a number <= %g", hi);
    else
        snprintf(buf, size, "a number in %g .. %g", lo, hi);
    return buf;
}

/* "a, b or c" from "a|b|c" into buf. */
static const char *choice_list(char *buf, size_t size, const char *choices) {
    size_t n = 0, left = strlen(choices);
    buf[0] = '\0';
    for (const char *p = choices; *p && n + 1 < size;) {
        size_t len = strcspn(p, "|");
        left -= len + (p[len] == '|');
        int w = snprintf(buf + n, size - n, "%s%.*s",
                         n == 0      ? ""
                         : left == 0 ? " or "
                                     : ", ",
                         (int)len, p);
        n += w > 0 ? (size_t)w : 0;
        p += len + (p[len] == '|');
    }
    return buf;
}

static int in_choices(const char *choices, const char *v) {
    size_t vl = strlen(v);
    for (const char *p = choices; *p;) {
        size_t len = strcspn(p, "|");
        if (len == vl && !strncmp(p, v, len)) return 1;
        p += len + (p[len] == '|');
    }
    return 0;
}

/* Stores value into o's destination; 1 on success, else prints one error line and returns 0. */
static int set_value(const char *cmd, const mx_cli_opt *o, const char *v) {
    char what[160];
    switch (o->kind) {
    case MX_CLI_STRING:
        if (o->choices && !in_choices(o->choices, v))
            return mx_cli_expected(cmd, o->name, v, choice_list(what, sizeof what, o->choices));
        *(const char **)o->dst = v;
        return 1;
    case MX_CLI_INT:
    case MX_CLI_LONG: {
        long long lo = o->lo, hi = o->hi;
        if (o->kind == MX_CLI_INT) {
            if (lo < INT_MIN) lo = INT_MIN;
            if (hi > INT_MAX) hi = INT_MAX;
        }
        char *end = NULL;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (end == v || *end || errno || x < lo || x > hi)
            return mx_cli_expected(cmd, o->name, v, int_range(what, sizeof what, lo, hi));
        if (o->kind == MX_CLI_INT)
            *(int *)o->dst = (int)x;
        else
            *(long long *)o->dst = x;
        return 1;
    }
    case MX_CLI_DOUBLE: {
        char *end = NULL;
        errno = 0;
        double x = strtod(v, &end);
        if (end == v || *end || errno || !isfinite(x) || x < o->flo || x > o->fhi)
            return mx_cli_expected(cmd, o->name, v, float_range(what, sizeof what, o->flo, o->fhi));
        *(double *)o->dst = x;
        return 1;
    }
    case MX_CLI_CUSTOM:
        return o->parse(cmd, o->name, v, o->dst);
    case MX_CLI_FLAG:
        break;
    }
    return 0;
}

int mx_cli_parse(const mx_cli_spec *spec, int argc, char **argv) {
    if (spec->also && has_option(argc, argv, spec->also->opts[0].name)) spec = spec->also;
    /* --help first, wherever it is (but not as another option's value), so that the defaults it
     * shows are the table's */
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            mx_cli_help(spec, stdout);
            return 0;
        }
        size_t len = name_len(argv[i]);
        const mx_cli_opt *o = find(spec->opts, argv[i], len);
        if (o && o->kind != MX_CLI_FLAG && !argv[i][len]) i++;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        size_t len = name_len(a);
        const mx_cli_opt *o = find(spec->opts, a, len);
        if (!o) {
            if (a[0] != '-')
                fprintf(stderr, "metrix %s: unexpected argument '%s' (", spec->cmd, a);
            else
                fprintf(stderr, "metrix %s: unknown option '%.*s' (", spec->cmd, (int)len, a);
            if (spec->hint)
                fprintf(stderr, "%s)\n", spec->hint);
            else
                fprintf(stderr, "metrix %s --help lists the options)\n", spec->cmd);
            return 2;
        }
        if (o->kind == MX_CLI_FLAG) {
            if (a[len]) {
                fprintf(stderr, "metrix %s: %s takes no value, got '%s'\n", spec->cmd, o->name, a);
                return 2;
            }
            *(int *)o->dst = (int)o->lo;
            continue;
        }
        const char *v;
        if (a[len]) {
            v = a + len + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            fprintf(stderr, "metrix %s: %s: expected a value (%s), got nothing\n", spec->cmd,
                    o->name, o->metavar ? o->metavar : "VALUE");
            return 2;
        }
        if (!set_value(spec->cmd, o, v)) return 2;
    }
    return -1;
}

/* " (default X)" for o into buf ("" when it has none to show). */
static const char *default_text(char *buf, size_t size, const mx_cli_opt *o) {
    buf[0] = '\0';
    if (o->def) {
        if (o->def[0]) snprintf(buf, size, " (default %s)", o->def);
        return buf;
    }
    switch (o->kind) {
    case MX_CLI_STRING: {
        const char *s = *(const char *const *)o->dst;
        if (s) snprintf(buf, size, " (default %s)", s);
        break;
    }
    case MX_CLI_INT:
        snprintf(buf, size, " (default %d)", *(const int *)o->dst);
        break;
    case MX_CLI_LONG:
        snprintf(buf, size, " (default %lld)", *(const long long *)o->dst);
        break;
    case MX_CLI_DOUBLE:
        snprintf(buf, size, " (default %g)", *(const double *)o->dst);
        break;
    case MX_CLI_FLAG:
        snprintf(buf, size, " (default off)");
        break;
    case MX_CLI_CUSTOM:
        break;
    }
    return buf;
}

/* "  LEFT   description" with the description word-wrapped at HELP_COLUMNS. */
static void help_line(FILE *f, const char *left, int width, const char *desc) {
    int col = fprintf(f, "  %-*s  ", width, left), indent = width + 4;
    int start = 1;
    for (const char *p = desc; *p;) {
        while (*p == ' ') p++;
        int len = (int)strcspn(p, " ");
        if (!len) break;
        if (!start && col + 1 + len > HELP_COLUMNS) {
            col = fprintf(f, "\n%*s", indent, "") - 1;
        } else if (!start) {
            fputc(' ', f);
            col++;
        }
        col += fprintf(f, "%.*s", len, p);
        start = 0;
        p += len;
    }
    fputc('\n', f);
}

static void help_section(const mx_cli_spec *spec, FILE *f) {
    char left[128], def[256], desc[1024];
    int width = (int)strlen("-h, --help");
    for (const mx_cli_opt *o = spec->opts; o->name; o++) {
        int w = snprintf(left, sizeof left, "%s%s%s", o->name, o->metavar ? " " : "",
                         o->metavar ? o->metavar : "");
        if (w > width) width = w;
    }
    fputs(spec->usage, f);
    for (const mx_cli_opt *o = spec->opts; o->name; o++) {
        snprintf(left, sizeof left, "%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        snprintf(desc, sizeof desc, "%s%s", o->help, default_text(def, sizeof def, o));
        help_line(f, left, width, desc);
    }
    help_line(f, "-h, --help", width, "this help");
    if (spec->footer) fputs(spec->footer, f);
}

void mx_cli_help(const mx_cli_spec *spec, FILE *f) {
    help_section(spec, f);
    if (spec->also) {
        fputc('\n', f);
        help_section(spec->also, f);
    }
}
