/* A user's own images: folder / list collection, decoding + embedding, the paths file. */
#include "user_images.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

void mx_ui_list_free(mx_ui_list *l) {
    if (!l) return;
    for (int64_t i = 0; i < l->n; i++) free(l->paths[i]);
    free(l->paths);
    memset(l, 0, sizeof *l);
}

int mx_ui_list_add(const char *cmd, mx_ui_list *l, const char *path) {
    if (strchr(path, '\n')) {
        fprintf(stderr, "metrix %s: %s: file names with a newline are not supported\n", cmd, path);
        return 0;
    }
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 64;
        char **p = realloc(l->paths, (size_t)cap * sizeof *p);
        if (!p) goto nomem;
        l->paths = p, l->cap = cap;
    }
    if (!(l->paths[l->n] = strdup(path))) goto nomem;
    l->n++;
    return 1;
nomem:
    fprintf(stderr, "metrix %s: out of memory listing images\n", cmd);
    return 0;
}

static int is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot &&
           (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

static int walk(const char *cmd, const char *dir, mx_ui_list *out, int depth) {
    if (depth > 64) {
        fprintf(stderr, "metrix %s: %s: folders nested deeper than 64 levels\n", cmd, dir);
        return 0;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "metrix %s: %s: cannot open folder: %s\n", cmd, dir, strerror(errno));
        return 0;
    }
    int ok = 1;
    for (struct dirent *e; ok && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue; /* ., .., hidden files */
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(len);
        if (!p) {
            fprintf(stderr, "metrix %s: out of memory listing %s\n", cmd, dir);
            ok = 0;
            break;
        }
        snprintf(p, len, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
            ok = walk(cmd, p, out, depth + 1);
        else if (is_image_name(e->d_name))
            ok = mx_ui_list_add(cmd, out, p);
        free(p);
    }
    closedir(d);
    return ok;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads the lines of a text file: each non-blank line not starting with '#' (trailing spaces and
 * CR stripped), prefixed by base (may be NULL) when relative. */
static int read_lines(const char *cmd, const char *path, const char *base, int comments,
                      mx_ui_list *out) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "metrix %s: %s: cannot open: %s\n", cmd, path, strerror(errno));
        return 0;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int ok = 1;
    long no = 0;
    while (ok && (len = getline(&line, &cap, f)) >= 0) {
        no++;
        if ((size_t)len != strlen(line)) {
            fprintf(stderr, "metrix %s: %s: line %ld: NUL byte (not a text file?)\n", cmd, path,
                    no);
            ok = 0;
            break;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
                           (comments && line[len - 1] == ' ')))
            line[--len] = '\0';
        if (len == 0 || (comments && line[0] == '#')) continue;
        if (base && line[0] != '/') {
            size_t n = strlen(base) + (size_t)len + 2;
            char *p = malloc(n);
            if (!p) {
                fprintf(stderr, "metrix %s: out of memory reading %s\n", cmd, path);
                ok = 0;
                break;
            }
            snprintf(p, n, "%s/%s", base, line);
            ok = mx_ui_list_add(cmd, out, p);
            free(p);
        } else {
            ok = mx_ui_list_add(cmd, out, line);
        }
    }
    if (ok && ferror(f)) {
        fprintf(stderr, "metrix %s: %s: read error\n", cmd, path);
        ok = 0;
    }
    free(line);
    fclose(f);
    return ok;
}

int mx_ui_collect(const char *cmd, const char *src, mx_ui_list *out) {
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(src, &st) != 0) {
        fprintf(stderr, "metrix %s: %s: %s\n", cmd, src, strerror(errno));
        return 0;
    }
    int ok;
    if (S_ISDIR(st.st_mode)) {
        ok = walk(cmd, src, out, 0);
        if (ok) qsort(out->paths, (size_t)out->n, sizeof *out->paths, cmp_str);
    } else {
        /* a list file: relative paths are taken from the list's folder */
        char *base = strdup(src);
        char *slash = base ? strrchr(base, '/') : NULL;
        if (slash) *slash = '\0';
        ok = base ? read_lines(cmd, src, slash ? base : ".", 1, out) : 0;
        free(base);
    }
    if (ok && out->n == 0) {
        fprintf(stderr, "metrix %s: %s: no images (%s)\n", cmd, src,
                S_ISDIR(st.st_mode) ? "a folder is searched for .jpg, .jpeg and .png files"
                                    : "a list file holds one image path per line");
        ok = 0;
    }
    if (!ok) mx_ui_list_free(out);
    return ok;
}

int mx_ui_embed(const char *cmd, mx_trainer *t, const mx_ui_list *l, int skip, float **emb,
                int64_t **kept, int64_t *n_ok) {
    enum { CHUNK = 64 };
    int64_t d = mx_trainer_embed_dim(t), n = 0, bad = 0;
    int min_short = mx_trainer_image_min_short(t);
    float *e = mx_alloc(sizeof(float) * (size_t)((l->n > 0 ? l->n : 1) * d));
    int64_t *k = malloc(sizeof(int64_t) * (size_t)(l->n > 0 ? l->n : 1));
    mx_image im[CHUNK];
    memset(im, 0, sizeof im);
    int ok = e && k;
    if (!ok)
        fprintf(stderr, "metrix %s: out of memory for %lld embeddings\n", cmd, (long long)l->n);
    for (int64_t start = 0; ok && start < l->n; start += CHUNK) {
        int nb = 0;
        for (int64_t i = start; ok && i < l->n && i < start + CHUNK; i++) {
            mx_status st = mx_image_load(l->paths[i], min_short, &im[nb]);
            if (st == MX_OK) {
                k[n + nb++] = i;
                continue;
            }
            const char *why = mx_errmsg(); /* names the file already, or not */
            fprintf(stderr, "metrix %s: %s%s%s%s\n", cmd,
                    strstr(why, l->paths[i]) ? "" : l->paths[i],
                    strstr(why, l->paths[i]) ? "" : ": ", why, skip ? " (skipped)" : "");
            bad++;
            ok = skip;
        }
        mx_status st = ok && nb ? mx_trainer_embed_images(t, nb, im, e + n * d) : MX_OK;
        if (st != MX_OK) {
            fprintf(stderr, "metrix %s: %s\n", cmd, mx_errmsg());
            ok = 0;
        }
        n += nb;
        for (int j = 0; j < nb; j++) mx_image_free(&im[j]);
    }
    if (ok && n == 0) {
        fprintf(stderr, "metrix %s: none of the %lld images could be read\n", cmd, (long long)l->n);
        ok = 0;
    }
    if (ok && bad)
        fprintf(stderr, "metrix %s: skipped %lld unreadable image(s)\n", cmd, (long long)bad);
    if (!ok) {
        mx_free(e);
        free(k);
        return 0;
    }
    *emb = e, *kept = k, *n_ok = n;
    return 1;
}

int mx_ui_write_paths(const char *cmd, const char *path, const mx_ui_list *l, const int64_t *kept,
                      int64_t n) {
    mx_atomic_file *af;
    FILE *f;
    mx_status st = mx_atomic_open(path, &af, &f);
    if (st == MX_OK) {
        for (int64_t i = 0; i < n; i++) fprintf(f, "%s\n", l->paths[kept ? kept[i] : i]);
        st = mx_atomic_commit(af);
    }
    if (st != MX_OK) {
        fprintf(stderr, "metrix %s: %s\n", cmd, mx_errmsg());
        return 0;
    }
    return 1;
}

int mx_ui_read_paths(const char *cmd, const char *path, mx_ui_list *out) {
    memset(out, 0, sizeof *out);
    if (read_lines(cmd, path, NULL, 0, out)) return 1;
    mx_ui_list_free(out);
    return 0;
}
