/* A folder per class: root/<class>/<image>. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <strings.h>
#include <sys/stat.h>

#include "data/dataset_impl.h"

/* ---- class folders ----------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir (subdirectories if want_dirs, else image files). */
static mx_status list_dir(const char *dir, int want_dirs, char ***out, int64_t *n_out) {
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d) return mx_error(MX_ERR_IO, "%s: cannot open directory", dir);
    char **v = NULL;
    int64_t n = 0, cap = 0;
    mx_status st = MX_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *full = mx_ds_path_join(dir, e->d_name);
        struct stat sb;
        int ok = full && stat(full, &sb) == 0;
        free(full);
        if (!ok) continue;
        if (want_dirs ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode)) continue;
        if (!want_dirs) {
            const char *x = strrchr(e->d_name, '.');
            if (!x || (strcasecmp(x, ".jpg") && strcasecmp(x, ".jpeg") && strcasecmp(x, ".png")))
                continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nv = realloc(v, (size_t)cap * sizeof(char *));
            if (!nv) {
                st = mx_error(MX_ERR_NOMEM, "%s: out of memory", dir);
                break;
            }
            v = nv;
        }
        if (!(v[n] = strdup(e->d_name))) {
            st = mx_error(MX_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        n++;
    }
    closedir(d);
    if (st != MX_OK) {
        for (int64_t i = 0; i < n; i++) free(v[i]);
        free(v);
        return st;
    }
    if (n) qsort(v, (size_t)n, sizeof(char *), cmp_str);
    *out = v;
    *n_out = n;
    return MX_OK;
}

mx_status mx_ds_read_folder(const char *root, mx_ds_raw *r, int64_t *n_classes) {
    char **cls = NULL;
    int64_t nc = 0;
    MX_TRY(list_dir(root, 1, &cls, &nc));
    mx_status st = MX_OK;
    for (int64_t c = 0; st == MX_OK && c < nc; c++) {
        char *cd = mx_ds_path_join(root, cls[c]), **files = NULL;
        int64_t nf = 0;
        st = cd ? list_dir(cd, 0, &files, &nf) : mx_error(MX_ERR_NOMEM, "folder: out of memory");
        for (int64_t i = 0; st == MX_OK && i < nf; i++)
            st = mx_ds_raw_add(r, cd, files[i], strlen(files[i]), c, 0);
        for (int64_t i = 0; i < nf; i++) free(files[i]);
        free(files);
        free(cd);
    }
    for (int64_t c = 0; c < nc; c++) free(cls[c]);
    free(cls);
    *n_classes = nc;
    return st;
}
