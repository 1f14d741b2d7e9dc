/* CUB-200-2011: images.txt + image_class_labels.txt. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_impl.h"

mx_status mx_ds_read_cub(const char *root, mx_ds_raw *r) {
    char *ip = mx_ds_path_join(root, "images.txt"),
         *lp = mx_ds_path_join(root, "image_class_labels.txt");
    char *imdir = mx_ds_path_join(root, "images");
    mx_ds_lines A = {0}, B = {0};
    mx_status st = (!ip || !lp || !imdir) ? mx_error(MX_ERR_NOMEM, "cub: out of memory") : MX_OK;
    if (st == MX_OK) st = mx_ds_lines_open(&A, ip);
    if (st == MX_OK) st = mx_ds_lines_open(&B, lp);
    while (st == MX_OK) {
        char *a = mx_ds_lines_next(&A), *b = mx_ds_lines_next(&B);
        while (a && mx_ds_blank(a)) a = mx_ds_lines_next(&A);
        while (b && mx_ds_blank(b)) b = mx_ds_lines_next(&B);
        if (!a && !b) break;
        if (!a || !b) {
            mx_ds_lines *L = a ? &B : &A;
            st = mx_error(MX_ERR_FORMAT, "%s:%d: file ends early: %s and %s have different counts",
                          L->path, L->lineno, ip, lp);
            break;
        }
        char *ta[3], *tb[3];
        int64_t ida, idb, cls;
        if (mx_ds_tokens(a, ta, 2) != 2 || !mx_ds_parse_i64(ta[0], &ida)) {
            st = BAD_LINE(&A, "'<image_id> <relative_path>'");
            break;
        }
        if (mx_ds_tokens(b, tb, 2) != 2 || !mx_ds_parse_i64(tb[0], &idb) ||
            !mx_ds_parse_i64(tb[1], &cls)) {
            st = BAD_LINE(&B, "'<image_id> <class_id>'");
            break;
        }
        if (ida != idb) {
            st = mx_error(MX_ERR_FORMAT,
                          "%s:%d: image id %ld does not match id %ld on line %d of %s", lp,
                          B.lineno, (long)idb, (long)ida, A.lineno, ip);
            break;
        }
        if (cls < 1 || cls > 200) {
            st = mx_error(MX_ERR_FORMAT, "%s:%d: class %ld out of range 1..200", lp, B.lineno,
                          (long)cls);
            break;
        }
        st = mx_ds_raw_add(r, imdir, ta[1], strlen(ta[1]), cls, 0);
    }
    free(A.buf);
    free(B.buf);
    free(ip);
    free(lp);
    free(imdir);
    return st;
}
