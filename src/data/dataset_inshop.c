/* In-Shop Clothes Retrieval: list_eval_partition.txt (train / query / gallery). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/dataset_impl.h"

mx_status mx_ds_read_inshop(const char *root, mx_ds_raw *r) {
    char *p = mx_ds_path_join(root, "list_eval_partition.txt");
    if (!p) return mx_error(MX_ERR_NOMEM, "inshop: out of memory");
    struct stat sb;
    if (stat(p, &sb) != 0) {
        free(p);
        p = mx_ds_path_join(root, "Eval/list_eval_partition.txt");
        if (!p) return mx_error(MX_ERR_NOMEM, "inshop: out of memory");
    }
    /* images: root/img/..., or root/Img/img/... in some packages (the listed paths start with
     * img/) */
    char *imroot = mx_ds_path_join(root, "img"), *nested = mx_ds_path_join(root, "Img/img");
    const char *base = root;
    if (imroot && nested && stat(imroot, &sb) != 0 && stat(nested, &sb) == 0) {
        nested[strlen(nested) - 4] = 0; /* root/Img */
        base = nested;
    }
    mx_ds_lines L;
    mx_status st = mx_ds_lines_open(&L, p);
    int64_t count = -1;
    char *s = st == MX_OK ? mx_ds_lines_next(&L) : NULL;
    if (st == MX_OK && (!s || !mx_ds_parse_i64(s, &count) || count < 0))
        st = BAD_LINE(&L, "the image count");
    if (st == MX_OK && (!(s = mx_ds_lines_next(&L)) || strncmp(s, "image_name", 10) != 0))
        st = BAD_LINE(&L, "the header 'image_name item_id evaluation_status'");
    while (st == MX_OK && (s = mx_ds_lines_next(&L))) {
        if (mx_ds_blank(s)) continue;
        char *t[3];
        int64_t item;
        if (mx_ds_tokens(s, t, 3) != 3 || strncmp(t[1], "id_", 3) != 0 ||
            !mx_ds_parse_i64(t[1] + 3, &item) || item < 0) {
            st = BAD_LINE(&L, "'<image_name> id_<number> <train|query|gallery>'");
            break;
        }
        int tag = !strcmp(t[2], "train")     ? 0
                  : !strcmp(t[2], "query")   ? 1
                  : !strcmp(t[2], "gallery") ? 2
                                             : -1;
        if (tag < 0) {
            st = mx_error(MX_ERR_FORMAT, "%s:%d: status '%s', expected train, query or gallery", p,
                          L.lineno, t[2]);
            break;
        }
        st = mx_ds_raw_add(r, base, t[0], strlen(t[0]), item, tag);
    }
    if (st == MX_OK && r->n != count)
        st = mx_error(MX_ERR_FORMAT, "%s:1: the count line says %ld images, the file lists %ld", p,
                      (long)count, (long)r->n);
    free(L.buf);
    free(p);
    free(imroot);
    free(nested);
    return st;
}
