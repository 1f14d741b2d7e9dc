/* classes.tsv: which original classes a run trains on, validates on and tests on (the
 * class-disjoint split as this run's data saw it; for glyphs the class id is the code point). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer_impl.h"

static void put_char(FILE *f, int64_t c) {
    if (c <= 0x20 || c == 0x7F || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return;
    if (c < 0x80)
        fputc((int)c, f);
    else if (c < 0x800)
        fprintf(f, "%c%c", (int)(0xC0 | (c >> 6)), (int)(0x80 | (c & 63)));
    else if (c < 0x10000)
        fprintf(f, "%c%c%c", (int)(0xE0 | (c >> 12)), (int)(0x80 | ((c >> 6) & 63)),
                (int)(0x80 | (c & 63)));
    else
        fprintf(f, "%c%c%c%c", (int)(0xF0 | (c >> 18)), (int)(0x80 | ((c >> 12) & 63)),
                (int)(0x80 | ((c >> 6) & 63)), (int)(0x80 | (c & 63)));
}

mx_status mx_tr_write_classes(const mx_trainer *t) {
    if (t->follower) return MX_OK; /* rank 0 alone writes the run directory */
    const int glyphs = mx_tr_dataset_kind(t->cfg.dataset) == MX_DS_GLYPHS;
    const struct {
        const char *name;
        const mx_dataset *ds;
    } sp[] = {{"train", t->ds_train},
              {"val", t->ds_val},
              {"test", t->ds_test},
              {"query", t->ds_query},
              {"gallery", t->ds_gallery}};
    char path[1100];
    mx_tr_path(t, "classes.tsv", path, sizeof path);
    mx_atomic_file *af;
    FILE *f;
    MX_TRY(mx_atomic_open(path, &af, &f));
    fprintf(f, "split\tlabel\tclass_id\timages%s\n", glyphs ? "\tchar" : "");
    for (size_t s = 0; s < sizeof sp / sizeof sp[0]; s++) {
        const mx_dataset *ds = sp[s].ds;
        if (!ds) continue;
        const int C = mx_dataset_classes(ds);
        int64_t *count = calloc((size_t)C, sizeof(int64_t));
        if (!count) {
            mx_atomic_abort(af);
            return mx_error(MX_ERR_NOMEM, "classes.tsv: out of memory");
        }
        const int64_t *lab = mx_dataset_labels(ds);
        for (int64_t i = 0; i < mx_dataset_size(ds); i++) count[lab[i]]++;
        for (int c = 0; c < C; c++) {
            int64_t id = mx_dataset_class_id(ds, c);
            fprintf(f, "%s\t%d\t%" PRId64 "\t%" PRId64, sp[s].name, c, id, count[c]);
            if (glyphs) {
                fputc('\t', f);
                put_char(f, id);
            }
            fputc('\n', f);
        }
        free(count);
    }
    if (ferror(f)) {
        mx_atomic_abort(af);
        return mx_error(MX_ERR_IO, "%s: write error", path);
    }
    return mx_atomic_commit(af);
}
