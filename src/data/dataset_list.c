/* List files: one "path label" line per image. Absolute paths are taken as they are; relative
 * ones resolve against root when given, else against the list file's folder. Every listed file
 * must exist when the list is read (the error names the list file and line). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/dataset_impl.h"

mx_status mx_ds_read_list(const char *list, const char *root, mx_ds_raw *r) {
    char *dir = NULL;
    if (!root) {
        const char *sl = strrchr(list, '/');
        size_t dl = sl ? (size_t)(sl - list) : 1;
        dir = malloc(dl + 1);
        if (!dir) return mx_error(MX_ERR_NOMEM, "list: out of memory");
        memcpy(dir, sl ? list : ".", dl);
        dir[dl] = 0;
    }
    mx_ds_lines L;
    mx_status st = mx_ds_lines_open(&L, list);
    char *s;
    while (st == MX_OK && (s = mx_ds_lines_next(&L))) {
        while (*s == ' ' || *s == '\t') s++;
        if (!*s || *s == '#') continue;
        char *sp = strrchr(s, ' '), *tb = strrchr(s, '\t');
        if (tb > sp) sp = tb;
        int64_t lab;
        if (!sp || !mx_ds_parse_i64(sp + 1, &lab)) {
            st = BAD_LINE(&L, "'<path> <integer label>'");
            break;
        }
        if (lab < 0) {
            st = mx_error(MX_ERR_FORMAT, "%s:%d: label %ld out of range (expected >= 0)", list,
                          L.lineno, (long)lab);
            break;
        }
        char *e = sp;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
        st = mx_ds_raw_add(r, s[0] == '/' ? NULL : root ? root : dir, s, (size_t)(e - s), lab, 0);
        struct stat sb;
        if (st == MX_OK && stat(r->paths[r->n - 1], &sb) != 0) {
            *e = 0;
            st = mx_error(MX_ERR_IO, "%s:%d: image '%s' (%s): %s", list, L.lineno, s,
                          r->paths[r->n - 1], strerror(errno));
        } else if (st == MX_OK && !S_ISREG(sb.st_mode)) {
            *e = 0;
            st = mx_error(MX_ERR_IO, "%s:%d: image '%s' (%s): not a regular file", list, L.lineno,
                          s, r->paths[r->n - 1]);
        }
    }
    free(L.buf);
    free(dir);
    return st;
}
