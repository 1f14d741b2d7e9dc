/* data: opening a dataset: the reader of its kind (dataset_<kind>.c), then the class-disjoint
 * split, validation carving and label remapping; the accessors. */
#include <stdlib.h>
#include <string.h>

#include "data/dataset_impl.h"

/* ---- split, validation carving, remapping ------------------------------------------------ */

mx_dataset_config mx_dataset_config_default(void) {
    mx_dataset_config c;
    memset(&c, 0, sizeof(c));
    c.kind = MX_DS_FMNIST;
    c.split = MX_SPLIT_TRAIN;
    c.class_lo = c.class_hi = -1;
    c.val_fraction = 0;
    c.val_seed = 0;
    return c;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorted distinct values of v[0..n) into *out (malloc'ed). */
static mx_status distinct(const int64_t *v, int64_t n, int64_t **out, int64_t *n_out) {
    int64_t *d = malloc((size_t)MX_MAX(n, 1) * sizeof(int64_t));
    if (!d) return mx_error(MX_ERR_NOMEM, "dataset: out of memory");
    if (n > 0) {
        memcpy(d, v, (size_t)n * sizeof(int64_t));
        qsort(d, (size_t)n, sizeof(int64_t), cmp_i64);
    }
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (k == 0 || d[k - 1] != d[i]) d[k++] = d[i];
    *out = d;
    *n_out = k;
    return MX_OK;
}

static int64_t find_sorted(const int64_t *d, int64_t n, int64_t v) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t m = (lo + hi) / 2;
        if (d[m] < v)
            lo = m + 1;
        else
            hi = m;
    }
    return lo < n && d[lo] == v ? lo : -1;
}

static const char *kind_name(mx_dataset_kind k) {
    static const char *names[] = {"fmnist", "cub",    "cars", "sop",
                                  "inshop", "folder", "list", "glyphs"};
    return (int)k >= 0 && k <= MX_DS_GLYPHS ? names[k] : "?";
}

mx_status mx_dataset_open(const mx_dataset_config *cfg, mx_dataset **out) {
    *out = NULL;
    const mx_split sp = cfg->split;
    const int train_side = sp == MX_SPLIT_TRAIN || sp == MX_SPLIT_VAL;
    if ((int)cfg->kind < 0 || cfg->kind > MX_DS_GLYPHS)
        return mx_error(MX_ERR_CONFIG, "dataset.kind: unknown kind %d", (int)cfg->kind);
    if ((int)sp < 0 || sp > MX_SPLIT_GALLERY)
        return mx_error(MX_ERR_CONFIG, "dataset.split: unknown split %d", (int)sp);
    if ((sp == MX_SPLIT_QUERY || sp == MX_SPLIT_GALLERY) != (cfg->kind == MX_DS_INSHOP) &&
        sp != MX_SPLIT_TRAIN && sp != MX_SPLIT_VAL)
        return mx_error(MX_ERR_CONFIG, "dataset.split: %s has %s", kind_name(cfg->kind),
                        cfg->kind == MX_DS_INSHOP ? "train / val / query / gallery splits"
                                                  : "train / val / test splits");
    if (!(cfg->val_fraction >= 0 && cfg->val_fraction < 1))
        return mx_error(MX_ERR_CONFIG, "dataset.val_fraction: expected [0, 1), got %g",
                        cfg->val_fraction);
    if (sp == MX_SPLIT_VAL && cfg->val_fraction <= 0)
        return mx_error(MX_ERR_CONFIG, "dataset.split: val needs dataset.val_fraction > 0");
    if (cfg->kind != MX_DS_FMNIST && (!cfg->root || !cfg->root[0]) && cfg->kind != MX_DS_LIST &&
        cfg->kind != MX_DS_GLYPHS)
        return mx_error(MX_ERR_CONFIG, "dataset.root: required for %s", kind_name(cfg->kind));
    if (cfg->kind == MX_DS_LIST && !cfg->list)
        return mx_error(MX_ERR_CONFIG, "dataset.list: required for the list dataset");

    mx_ds_raw r;
    memset(&r, 0, sizeof(r));
    mx_status st = MX_OK;
    /* protocol class ranges (inclusive) */
    int64_t lo = INT64_MIN, hi = INT64_MAX, nfolders = 0;
    switch (cfg->kind) {
    case MX_DS_FMNIST:
        st = mx_ds_read_fmnist(cfg->root && cfg->root[0] ? cfg->root : MX_FMNIST_DIR, train_side,
                               &r);
        lo = train_side ? 0 : 5;
        hi = train_side ? 4 : 9;
        break;
    case MX_DS_CUB:
        st = mx_ds_read_cub(cfg->root, &r);
        lo = train_side ? 1 : 101;
        hi = train_side ? 100 : 200;
        break;
    case MX_DS_CARS:
        st = mx_ds_read_cars(cfg->root, &r);
        lo = train_side ? 1 : 99;
        hi = train_side ? 98 : 196;
        break;
    case MX_DS_SOP:
        st = mx_ds_read_sop(cfg->root, train_side, &r);
        break;
    case MX_DS_INSHOP:
        st = mx_ds_read_inshop(cfg->root, &r);
        break;
    case MX_DS_FOLDER:
        st = mx_ds_read_folder(cfg->root, &r, &nfolders);
        lo = train_side ? 0 : (nfolders + 1) / 2;
        hi = train_side ? (nfolders + 1) / 2 - 1 : nfolders - 1;
        break;
    case MX_DS_GLYPHS: {
        char def[4096];
        st = mx_ds_read_glyphs(
            cfg->root && cfg->root[0] ? cfg->root : mx_ds_glyphs_default_root(def, sizeof def),
            train_side, &r);
        break;
    }
    case MX_DS_LIST: {
        if (cfg->test_list) { /* separate files: all classes of the chosen file */
            st = mx_ds_read_list(train_side ? cfg->list : cfg->test_list, cfg->root, &r);
            lo = 0;
            break;
        }
        st = mx_ds_read_list(cfg->list, cfg->root, &r);
        int64_t *d = NULL, nd = 0;
        if (st == MX_OK) st = distinct(r.cls, r.n, &d, &nd);
        if (st == MX_OK && nd > 0) {
            int64_t h = (nd + 1) / 2;
            lo = train_side ? d[0] : (h < nd ? d[h] : INT64_MAX);
            hi = train_side ? d[h - 1] : d[nd - 1];
        }
        free(d);
        break;
    }
    }
    if (st != MX_OK) {
        mx_ds_raw_free(&r);
        return st;
    }
    if (cfg->class_lo >= 0 || cfg->class_hi >= 0) {
        lo = cfg->class_lo;
        hi = cfg->class_hi;
        if (lo < 0 || hi < lo) {
            mx_ds_raw_free(&r);
            return mx_error(MX_ERR_CONFIG,
                            "dataset.class_lo/class_hi: expected 0 <= lo <= hi, "
                            "got %ld..%ld",
                            (long)lo, (long)hi);
        }
    }

    /* which records belong to the split */
    int64_t *keep = malloc((size_t)MX_MAX(r.n, 1) * sizeof(int64_t)), nk = 0;
    int64_t *kc = malloc((size_t)MX_MAX(r.n, 1) * sizeof(int64_t));
    int64_t *cls = NULL, ncls = 0, *val = NULL, nval = 0;
    mx_dataset *ds = calloc(1, sizeof(*ds));
    if (!keep || !kc || !ds) st = mx_error(MX_ERR_NOMEM, "dataset: out of memory");
    const int want_tag = sp == MX_SPLIT_QUERY ? 1 : sp == MX_SPLIT_GALLERY ? 2 : 0;
    for (int64_t i = 0; st == MX_OK && i < r.n; i++) {
        if (cfg->kind == MX_DS_INSHOP && r.tag[i] != want_tag) continue;
        if (r.cls[i] < lo || r.cls[i] > hi) continue;
        keep[nk] = i;
        kc[nk++] = r.cls[i];
    }
    /* validation carving: among the training classes, a seeded choice of round(f * C) classes */
    if (st == MX_OK && cfg->val_fraction > 0 && train_side) {
        st = distinct(kc, nk, &val, &nval);
        int64_t nv = (int64_t)(cfg->val_fraction * (double)nval + 0.5);
        if (st == MX_OK && (nv < 1 || nv >= nval))
            st = mx_error(MX_ERR_CONFIG,
                          "dataset.val_fraction: %g of %ld training classes leaves an empty "
                          "train or validation split",
                          cfg->val_fraction, (long)nval);
        if (st == MX_OK) {
            mx_rng vr;
            mx_rng_seed(&vr, cfg->val_seed);
            mx_rng_shuffle_i64(&vr, val, (size_t)nval);
            qsort(val, (size_t)nv, sizeof(int64_t), cmp_i64);
            nval = nv;
            int64_t m = 0;
            for (int64_t j = 0; j < nk; j++) {
                int in_val = find_sorted(val, nval, kc[j]) >= 0;
                if (in_val == (sp == MX_SPLIT_VAL)) {
                    keep[m] = keep[j];
                    kc[m++] = kc[j];
                }
            }
            nk = m;
        }
    }
    if (st == MX_OK && nk == 0)
        st = mx_error(MX_ERR_CONFIG, "dataset: %s split of %s has no images (classes %ld..%ld)",
                      sp == MX_SPLIT_TRAIN  ? "train"
                      : sp == MX_SPLIT_TEST ? "test"
                                            : "selected",
                      kind_name(cfg->kind), (long)lo, (long)hi);
    /* label map: the split's distinct classes; In-Shop query / gallery share the test items */
    if (st == MX_OK) {
        if (sp == MX_SPLIT_QUERY || sp == MX_SPLIT_GALLERY) {
            int64_t m = 0; /* r.cls is not needed any more: reuse it for the union */
            for (int64_t i = 0; i < r.n; i++)
                if (r.tag[i] != 0 && r.cls[i] >= lo && r.cls[i] <= hi) r.cls[m++] = r.cls[i];
            st = distinct(r.cls, m, &cls, &ncls);
        } else {
            st = distinct(kc, nk, &cls, &ncls);
        }
    }
    if (st == MX_OK && ncls > INT32_MAX) st = mx_error(MX_ERR_CONFIG, "dataset: too many classes");
    if (st == MX_OK) {
        ds->n = nk;
        ds->n_classes = (int)ncls;
        ds->class_ids = cls;
        cls = NULL;
        ds->labels = malloc((size_t)nk * sizeof(int64_t));
        if (r.pixels) {
            ds->ih = r.ih;
            ds->iw = r.iw;
            ds->pixels = malloc((size_t)nk * r.ih * r.iw);
        } else {
            ds->paths = calloc((size_t)nk, sizeof(char *));
        }
        if (!ds->labels || (!ds->pixels && !ds->paths))
            st = mx_error(MX_ERR_NOMEM, "dataset: out of memory");
    }
    for (int64_t j = 0; st == MX_OK && j < nk; j++) {
        ds->labels[j] = find_sorted(ds->class_ids, ncls, kc[j]);
        MX_ASSERT(ds->labels[j] >= 0);
        int64_t i = keep[j];
        if (ds->pixels) {
            size_t sz = (size_t)r.ih * r.iw;
            memcpy(ds->pixels + (size_t)j * sz, r.pixels + (size_t)i * sz, sz);
        } else {
            ds->paths[j] = r.paths[i];
            r.paths[i] = NULL;
        }
    }
    free(keep);
    free(kc);
    free(cls);
    free(val);
    mx_ds_raw_free(&r);
    if (st != MX_OK) {
        mx_dataset_free(ds);
        return st;
    }
    *out = ds;
    return MX_OK;
}

void mx_dataset_free(mx_dataset *ds) {
    if (!ds) return;
    if (ds->paths)
        for (int64_t i = 0; i < ds->n; i++) free(ds->paths[i]);
    free(ds->paths);
    free(ds->pixels);
    free(ds->labels);
    free(ds->class_ids);
    free(ds);
}

int64_t mx_dataset_size(const mx_dataset *ds) {
    return ds->n;
}

int mx_dataset_classes(const mx_dataset *ds) {
    return ds->n_classes;
}

const int64_t *mx_dataset_labels(const mx_dataset *ds) {
    return ds->labels;
}

int64_t mx_dataset_class_id(const mx_dataset *ds, int c) {
    MX_ASSERT(c >= 0 && c < ds->n_classes);
    return ds->class_ids[c];
}

const char *mx_dataset_path(const mx_dataset *ds, int64_t i) {
    MX_ASSERT(i >= 0 && i < ds->n);
    return ds->paths ? ds->paths[i] : NULL;
}

mx_status mx_dataset_image(const mx_dataset *ds, int64_t i, int min_short, mx_image *out) {
    MX_ASSERT(i >= 0 && i < ds->n);
    memset(out, 0, sizeof(*out));
    if (ds->paths) return mx_image_load(ds->paths[i], min_short, out);
    size_t sz = (size_t)ds->ih * ds->iw;
    out->data = malloc(sz);
    if (!out->data) return mx_error(MX_ERR_NOMEM, "dataset: cannot allocate an image");
    memcpy(out->data, ds->pixels + (size_t)i * sz, sz);
    out->w = ds->iw;
    out->h = ds->ih;
    out->c = 1;
    return MX_OK;
}

mx_status mx_dataset_image_view(const mx_dataset *ds, int64_t i, int min_short, mx_decoder *d,
                                mx_image *view) {
    MX_ASSERT(i >= 0 && i < ds->n);
    if (ds->paths) return mx_decoder_load(d, ds->paths[i], min_short, view);
    size_t sz = (size_t)ds->ih * ds->iw;
    view->w = ds->iw;
    view->h = ds->ih;
    view->c = 1;
    view->data = ds->pixels + (size_t)i * sz; /* read-only by contract */
    return MX_OK;
}
