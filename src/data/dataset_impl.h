/* Private header of the dataset readers. Each reader (dataset_<name>.c) parses its index files
 * into an mx_ds_raw list of (path, class id[, In-Shop tag]) records; dataset.c applies the
 * class-disjoint split, validation carving and label remapping to it. */
#ifndef MX_DATASET_IMPL_H
#define MX_DATASET_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "core/core_impl.h"
#include "data/data_impl.h"
#include "metrix/data.h"

struct mx_dataset {
    int64_t n;
    int n_classes;
    int64_t *labels;    /* [n] 0..C-1 */
    int64_t *class_ids; /* [C] original id of each label */
    char **paths;       /* [n] owned strings, or NULL for in-memory images */
    uint8_t *pixels;    /* [n][ih][iw] gray, in-memory datasets */
    int ih, iw;
};

/* Records read from an index file before the split is applied. */
typedef struct mx_ds_raw {
    int64_t n, cap;
    char **paths;
    int64_t *cls;
    int8_t *tag; /* In-Shop: 0 train, 1 query, 2 gallery */
    uint8_t *pixels;
    int ih, iw;
} mx_ds_raw;

void mx_ds_raw_free(mx_ds_raw *r);
/* Appends a record; path is copied as dir + "/" + rel (dir NULL: rel alone). */
mx_status mx_ds_raw_add(mx_ds_raw *r, const char *dir, const char *rel, size_t rel_len, int64_t cls,
                        int tag);
/* a + "/" + b, malloc'ed (NULL when out of memory). */
char *mx_ds_path_join(const char *a, const char *b);

/* ---- line-oriented text files (dataset_text.c) ------------------------------------------- */

typedef struct mx_ds_lines {
    uint8_t *buf;
    size_t size;
    char *p;
    int lineno;
    const char *path;
} mx_ds_lines;

mx_status mx_ds_lines_open(mx_ds_lines *L, const char *path);
/* Next line, NUL-terminated with trailing whitespace (\r) stripped; NULL at the end. */
char *mx_ds_lines_next(mx_ds_lines *L);
int mx_ds_blank(const char *s);
/* Splits s into up to max whitespace-separated tokens; returns the count (max + 1 if more). */
int mx_ds_tokens(char *s, char **tok, int max);
int mx_ds_parse_i64(const char *s, int64_t *v);

#define BAD_LINE(L, what)                                                                          \
    mx_error(MX_ERR_FORMAT, "%s:%d: expected %s", (L)->path, (L)->lineno, what)

/* ---- the readers: each appends the records of its dataset to r ---------------------------- */

/* IDX files of Fashion-MNIST in dir (train: train-*, else t10k-*); images kept in memory. */
mx_status mx_ds_read_fmnist(const char *dir, int train, mx_ds_raw *r);
mx_status mx_ds_read_cub(const char *root, mx_ds_raw *r);
mx_status mx_ds_read_cars(const char *root, mx_ds_raw *r);
mx_status mx_ds_read_sop(const char *root, int train, mx_ds_raw *r);
mx_status mx_ds_read_inshop(const char *root, mx_ds_raw *r);
mx_status mx_ds_read_list(const char *list, const char *root, mx_ds_raw *r);
mx_status mx_ds_read_folder(const char *root, mx_ds_raw *r, int64_t *n_classes);

/* ---- glyphs (dataset_glyphs.c) ------------------------------------------------------------ */

/* What one face contributed: code points of the candidate set (those at least min_faces
 * character maps contain) that it renders validly, lacks in its character map, renders empty,
 * renders as its .notdef box, or draws with a glyph shared by several code points; in_classes:
 * its renderings in the final set. */
typedef struct mx_glyphs_face_info {
    char name[128]; /* family and style */
    int64_t valid, missing, empty, notdef, shared, in_classes;
} mx_glyphs_face_info;

typedef struct mx_glyphs_info {
    int rendered; /* 1: rendered (and cached) by this call, 0: read from the cache */
    int n_faces;
    int64_t n_candidates, n_classes, n_records, n_train_classes, n_test_classes;
    mx_glyphs_face_info face[255];
    char cache_path[4096];
} mx_glyphs_info;

/* Default root of the glyph cache: $XDG_CACHE_HOME/metrix/glyphs or ~/.cache/metrix/glyphs. */
const char *mx_ds_glyphs_default_root(char *buf, size_t cap);
/* Makes sure root's glyph set is rendered and cached; fills info (counts, cache file). */
mx_status mx_ds_glyphs_prepare(const char *root, mx_glyphs_info *info);
/* The records of the train (train != 0) or test classes; class id = Unicode code point. */
mx_status mx_ds_read_glyphs(const char *root, int train, mx_ds_raw *r);

#endif
