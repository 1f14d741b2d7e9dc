/* Shared pieces of the dataset readers: the record list and line-oriented index files. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_impl.h"

void mx_ds_raw_free(mx_ds_raw *r) {
    if (r->paths)
        for (int64_t i = 0; i < r->n; i++) free(r->paths[i]);
    free(r->paths);
    free(r->cls);
    free(r->tag);
    free(r->pixels);
    memset(r, 0, sizeof(*r));
}

/* Appends a record; path is copied as dir + "/" + rel (dir NULL: rel alone). */
mx_status mx_ds_raw_add(mx_ds_raw *r, const char *dir, const char *rel, size_t rel_len, int64_t cls,
                        int tag) {
    if (r->n == r->cap) {
        int64_t cap = r->cap ? 2 * r->cap : 256;
        char **p = realloc(r->paths, (size_t)cap * sizeof(char *));
        if (p) r->paths = p;
        int64_t *c = realloc(r->cls, (size_t)cap * sizeof(int64_t));
        if (c) r->cls = c;
        int8_t *t = realloc(r->tag, (size_t)cap);
        if (t) r->tag = t;
        if (!p || !c || !t)
            return mx_error(MX_ERR_NOMEM, "dataset: out of memory at %ld records", (long)r->n);
        r->cap = cap;
    }
    size_t dl = dir ? strlen(dir) + 1 : 0;
    char *s = malloc(dl + rel_len + 1);
    if (!s) return mx_error(MX_ERR_NOMEM, "dataset: out of memory");
    if (dir) {
        memcpy(s, dir, dl - 1);
        s[dl - 1] = '/';
    }
    memcpy(s + dl, rel, rel_len);
    s[dl + rel_len] = 0;
    r->paths[r->n] = s;
    r->cls[r->n] = cls;
    r->tag[r->n] = (int8_t)tag;
    r->n++;
    return MX_OK;
}

char *mx_ds_path_join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (!s) return NULL;
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

mx_status mx_ds_lines_open(mx_ds_lines *L, const char *path) {
    memset(L, 0, sizeof(*L));
    L->path = path;
    MX_TRY(mx_read_file(path, &L->buf, &L->size));
    L->p = (char *)L->buf;
    return MX_OK;
}

/* Next line, NUL-terminated with trailing whitespace (\r) stripped; NULL at the end. */
char *mx_ds_lines_next(mx_ds_lines *L) {
    char *end = (char *)L->buf + L->size;
    if (L->p >= end) return NULL;
    char *s = L->p, *nl = memchr(s, '\n', (size_t)(end - s));
    if (!nl) nl = end;
    *nl = 0;
    L->p = nl + 1;
    L->lineno++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = 0;
    return s;
}

int mx_ds_blank(const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    return *s == 0;
}

/* Splits s into up to max whitespace-separated tokens; returns the count (max + 1 if more). */
int mx_ds_tokens(char *s, char **tok, int max) {
    int n = 0;
    while (*s) {
        while (*s == ' ' || *s == '\t') *s++ = 0;
        if (!*s) break;
        if (n == max) return max + 1;
        tok[n++] = s;
        while (*s && *s != ' ' && *s != '\t') s++;
    }
    return n;
}

int mx_ds_parse_i64(const char *s, int64_t *v) {
    char *e;
    errno = 0;
    long long x = strtoll(s, &e, 10);
    if (errno || e == s || *e) return 0;
    *v = x;
    return 1;
}
