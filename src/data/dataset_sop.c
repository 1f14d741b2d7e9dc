/* Stanford Online Products: Ebay_train.txt / Ebay_test.txt. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_impl.h"

mx_status mx_ds_read_sop(const char *root, int train, mx_ds_raw *r) {
    char *p = mx_ds_path_join(root, train ? "Ebay_train.txt" : "Ebay_test.txt");
    if (!p) return mx_error(MX_ERR_NOMEM, "sop: out of memory");
    mx_ds_lines L;
    mx_status st = mx_ds_lines_open(&L, p);
    char *s = st == MX_OK ? mx_ds_lines_next(&L) : NULL;
    if (st == MX_OK && (!s || strncmp(s, "image_id", 8) != 0))
        st = BAD_LINE(&L, "the header 'image_id class_id super_class_id path'");
    while (st == MX_OK && (s = mx_ds_lines_next(&L))) {
        if (mx_ds_blank(s)) continue;
        char *t[4];
        int64_t id, cls, sup;
        if (mx_ds_tokens(s, t, 4) != 4 || !mx_ds_parse_i64(t[0], &id) ||
            !mx_ds_parse_i64(t[1], &cls) || !mx_ds_parse_i64(t[2], &sup)) {
            st = BAD_LINE(&L, "'<image_id> <class_id> <super_class_id> <path>'");
            break;
        }
        if (cls < 1 || cls > 22634 || sup < 1 || sup > 12) {
            st = mx_error(MX_ERR_FORMAT,
                          "%s:%d: class %ld / super class %ld out of range 1..22634 / 1..12", p,
                          L.lineno, (long)cls, (long)sup);
            break;
        }
        st = mx_ds_raw_add(r, root, t[3], strlen(t[3]), cls, 0);
    }
    free(L.buf);
    free(p);
    return st;
}
