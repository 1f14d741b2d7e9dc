/* data: dataset readers (Fashion-MNIST IDX, CUB, Cars196 .mat, SOP, In-Shop, class folders, list
 * files), class-disjoint splits, validation carving and label remapping. */
#include <dirent.h>
#include <errno.h>
#include <matio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/core_impl.h"
#include "data/data_impl.h"
#include "data/mat_read.h"
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
typedef struct raw {
    int64_t n, cap;
    char **paths;
    int64_t *cls;
    int8_t *tag; /* In-Shop: 0 train, 1 query, 2 gallery */
    uint8_t *pixels;
    int ih, iw;
} raw;

static void raw_free(raw *r) {
    if (r->paths)
        for (int64_t i = 0; i < r->n; i++) free(r->paths[i]);
    free(r->paths);
    free(r->cls);
    free(r->tag);
    free(r->pixels);
    memset(r, 0, sizeof(*r));
}

/* Appends a record; path is copied as dir + "/" + rel (dir NULL: rel alone). */
static mx_status raw_add(raw *r, const char *dir, const char *rel, size_t rel_len, int64_t cls,
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

static char *path_join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (!s) return NULL;
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

/* ---- line-oriented text files ------------------------------------------------------------ */

typedef struct lines {
    uint8_t *buf;
    size_t size;
    char *p;
    int lineno;
    const char *path;
} lines;

static mx_status lines_open(lines *L, const char *path) {
    memset(L, 0, sizeof(*L));
    L->path = path;
    MX_TRY(mx_read_file(path, &L->buf, &L->size));
    L->p = (char *)L->buf;
    return MX_OK;
}

/* Next line, NUL-terminated with trailing whitespace (\r) stripped; NULL at the end. */
static char *lines_next(lines *L) {
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

static int blank(const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    return *s == 0;
}

/* Splits s into up to max whitespace-separated tokens; returns the count (max + 1 if more). */
static int tokens(char *s, char **tok, int max) {
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

static int parse_i64(const char *s, int64_t *v) {
    char *e;
    errno = 0;
    long long x = strtoll(s, &e, 10);
    if (errno || e == s || *e) return 0;
    *v = x;
    return 1;
}

#define BAD_LINE(L, what)                                                                          \
    mx_error(MX_ERR_FORMAT, "%s:%d: expected %s", (L)->path, (L)->lineno, what)

/* ---- Fashion-MNIST ----------------------------------------------------------------------- */

static mx_status idx_read(const char *path, int want_ndim, int64_t *dims, uint8_t **data) {
    *data = NULL;
    gzFile f = gzopen(path, "rb");
    if (!f) return mx_error(MX_ERR_IO, "%s: cannot open file", path);
    uint8_t hdr[16];
    int hl = 4 + 4 * want_ndim;
    if (gzread(f, hdr, (unsigned)hl) != hl) {
        gzclose(f);
        return mx_error(MX_ERR_FORMAT, "%s: truncated IDX header (expected %d bytes)", path, hl);
    }
    if (hdr[0] != 0 || hdr[1] != 0 || hdr[2] != 0x08 || hdr[3] != want_ndim) {
        gzclose(f);
        return mx_error(MX_ERR_FORMAT,
                        "%s: bad IDX magic %02x%02x%02x%02x, expected 000008%02x (uint8, %d dims)",
                        path, hdr[0], hdr[1], hdr[2], hdr[3], want_ndim, want_ndim);
    }
    int64_t total = 1;
    for (int d = 0; d < want_ndim; d++) {
        const uint8_t *b = hdr + 4 + 4 * d;
        dims[d] = ((int64_t)b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
        if (dims[d] <= 0 || dims[d] > 100000000) {
            gzclose(f);
            return mx_error(MX_ERR_FORMAT, "%s: IDX dimension %d is %ld, expected 1..1e8", path, d,
                            (long)dims[d]);
        }
        if (total > ((int64_t)1 << 34) / dims[d]) {
            gzclose(f);
            return mx_error(MX_ERR_FORMAT, "%s: IDX payload larger than 16 GiB (dimension %d)",
                            path, d);
        }
        total *= dims[d];
    }
    /* the buffer grows with the data actually read, so a damaged header promising gigabytes
     * costs nothing before the short read is noticed */
    uint8_t *buf = NULL;
    int64_t got = 0, cap = 0;
    while (got < total) {
        if (got == cap) {
            int64_t nc = MX_MIN(total, MX_MAX(2 * cap, (int64_t)1 << 20));
            uint8_t *nb = realloc(buf, (size_t)nc);
            if (!nb) {
                free(buf);
                gzclose(f);
                return mx_error(MX_ERR_NOMEM, "%s: cannot allocate %ld bytes", path, (long)nc);
            }
            buf = nb;
            cap = nc;
        }
        unsigned chunk = (unsigned)MX_MIN(cap - got, (int64_t)1 << 30);
        int r = gzread(f, buf + got, chunk);
        if (r <= 0) break;
        got += r;
    }
    gzclose(f);
    if (got != total) {
        free(buf);
        return mx_error(MX_ERR_FORMAT, "%s: truncated: header promises %ld bytes of data, got %ld",
                        path, (long)total, (long)got);
    }
    *data = buf;
    return MX_OK;
}

static mx_status read_fmnist(const char *dir, int train, raw *r) {
    const char *pre = train ? "train" : "t10k";
    char ip[4096], lp[4096];
    snprintf(ip, sizeof(ip), "%s/%s-images-idx3-ubyte.gz", dir, pre);
    snprintf(lp, sizeof(lp), "%s/%s-labels-idx1-ubyte.gz", dir, pre);
    int64_t idims[3] = {0, 0, 0}, ldims[1] = {0};
    uint8_t *img = NULL, *lab = NULL;
    MX_TRY(idx_read(ip, 3, idims, &img));
    mx_status st = idx_read(lp, 1, ldims, &lab);
    if (st == MX_OK && ldims[0] != idims[0])
        st = mx_error(MX_ERR_FORMAT, "%s: %ld labels but %s has %ld images", lp, (long)ldims[0], ip,
                      (long)idims[0]);
    for (int64_t i = 0; st == MX_OK && i < ldims[0]; i++)
        if (lab[i] > 9)
            st = mx_error(MX_ERR_FORMAT, "%s: record %ld: label %d out of range 0..9", lp, (long)i,
                          lab[i]);
    if (st == MX_OK) {
        r->n = idims[0];
        r->cls = malloc((size_t)r->n * sizeof(int64_t));
        r->tag = calloc((size_t)r->n, 1);
        if (!r->cls || !r->tag) st = mx_error(MX_ERR_NOMEM, "%s: out of memory", lp);
        for (int64_t i = 0; st == MX_OK && i < r->n; i++) r->cls[i] = lab[i];
        r->pixels = img;
        r->ih = (int)idims[1];
        r->iw = (int)idims[2];
        img = NULL;
    }
    free(img);
    free(lab);
    return st;
}

/* ---- CUB, SOP, In-Shop, list files ------------------------------------------------------- */

static mx_status read_cub(const char *root, raw *r) {
    char *ip = path_join(root, "images.txt"), *lp = path_join(root, "image_class_labels.txt");
    char *imdir = path_join(root, "images");
    lines A = {0}, B = {0};
    mx_status st = (!ip || !lp || !imdir) ? mx_error(MX_ERR_NOMEM, "cub: out of memory") : MX_OK;
    if (st == MX_OK) st = lines_open(&A, ip);
    if (st == MX_OK) st = lines_open(&B, lp);
    while (st == MX_OK) {
        char *a = lines_next(&A), *b = lines_next(&B);
        while (a && blank(a)) a = lines_next(&A);
        while (b && blank(b)) b = lines_next(&B);
        if (!a && !b) break;
        if (!a || !b) {
            lines *L = a ? &B : &A;
            st = mx_error(MX_ERR_FORMAT, "%s:%d: file ends early: %s and %s have different counts",
                          L->path, L->lineno, ip, lp);
            break;
        }
        char *ta[3], *tb[3];
        int64_t ida, idb, cls;
        if (tokens(a, ta, 2) != 2 || !parse_i64(ta[0], &ida)) {
            st = BAD_LINE(&A, "'<image_id> <relative_path>'");
            break;
        }
        if (tokens(b, tb, 2) != 2 || !parse_i64(tb[0], &idb) || !parse_i64(tb[1], &cls)) {
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
        st = raw_add(r, imdir, ta[1], strlen(ta[1]), cls, 0);
    }
    free(A.buf);
    free(B.buf);
    free(ip);
    free(lp);
    free(imdir);
    return st;
}

static mx_status read_sop(const char *root, int train, raw *r) {
    char *p = path_join(root, train ? "Ebay_train.txt" : "Ebay_test.txt");
    if (!p) return mx_error(MX_ERR_NOMEM, "sop: out of memory");
    lines L;
    mx_status st = lines_open(&L, p);
    char *s = st == MX_OK ? lines_next(&L) : NULL;
    if (st == MX_OK && (!s || strncmp(s, "image_id", 8) != 0))
        st = BAD_LINE(&L, "the header 'image_id class_id super_class_id path'");
    while (st == MX_OK && (s = lines_next(&L))) {
        if (blank(s)) continue;
        char *t[4];
        int64_t id, cls, sup;
        if (tokens(s, t, 4) != 4 || !parse_i64(t[0], &id) || !parse_i64(t[1], &cls) ||
            !parse_i64(t[2], &sup)) {
            st = BAD_LINE(&L, "'<image_id> <class_id> <super_class_id> <path>'");
            break;
        }
        if (cls < 1 || cls > 22634 || sup < 1 || sup > 12) {
            st = mx_error(MX_ERR_FORMAT,
                          "%s:%d: class %ld / super class %ld out of range 1..22634 / 1..12", p,
                          L.lineno, (long)cls, (long)sup);
            break;
        }
        st = raw_add(r, root, t[3], strlen(t[3]), cls, 0);
    }
    free(L.buf);
    free(p);
    return st;
}

static mx_status read_inshop(const char *root, raw *r) {
    char *p = path_join(root, "list_eval_partition.txt");
    if (!p) return mx_error(MX_ERR_NOMEM, "inshop: out of memory");
    struct stat sb;
    if (stat(p, &sb) != 0) {
        free(p);
        p = path_join(root, "Eval/list_eval_partition.txt");
        if (!p) return mx_error(MX_ERR_NOMEM, "inshop: out of memory");
    }
    /* images: root/img/..., or root/Img/img/... in some packages (the listed paths start with
     * img/) */
    char *imroot = path_join(root, "img"), *nested = path_join(root, "Img/img");
    const char *base = root;
    if (imroot && nested && stat(imroot, &sb) != 0 && stat(nested, &sb) == 0) {
        nested[strlen(nested) - 4] = 0; /* root/Img */
        base = nested;
    }
    lines L;
    mx_status st = lines_open(&L, p);
    int64_t count = -1;
    char *s = st == MX_OK ? lines_next(&L) : NULL;
    if (st == MX_OK && (!s || !parse_i64(s, &count) || count < 0))
        st = BAD_LINE(&L, "the image count");
    if (st == MX_OK && (!(s = lines_next(&L)) || strncmp(s, "image_name", 10) != 0))
        st = BAD_LINE(&L, "the header 'image_name item_id evaluation_status'");
    while (st == MX_OK && (s = lines_next(&L))) {
        if (blank(s)) continue;
        char *t[3];
        int64_t item;
        if (tokens(s, t, 3) != 3 || strncmp(t[1], "id_", 3) != 0 || !parse_i64(t[1] + 3, &item) ||
            item < 0) {
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
        st = raw_add(r, base, t[0], strlen(t[0]), item, tag);
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

static mx_status read_list(const char *list, const char *root, raw *r) {
    char *dir = NULL;
    if (!root) {
        const char *sl = strrchr(list, '/');
        size_t dl = sl ? (size_t)(sl - list) : 1;
        dir = malloc(dl + 1);
        if (!dir) return mx_error(MX_ERR_NOMEM, "list: out of memory");
        memcpy(dir, sl ? list : ".", dl);
        dir[dl] = 0;
    }
    lines L;
    mx_status st = lines_open(&L, list);
    char *s;
    while (st == MX_OK && (s = lines_next(&L))) {
        while (*s == ' ' || *s == '\t') s++;
        if (!*s || *s == '#') continue;
        char *sp = strrchr(s, ' '), *tb = strrchr(s, '\t');
        if (tb > sp) sp = tb;
        int64_t lab;
        if (!sp || !parse_i64(sp + 1, &lab)) {
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
        st = raw_add(r, root ? root : dir, s, (size_t)(e - s), lab, 0);
    }
    free(L.buf);
    free(dir);
    return st;
}

/* ---- Cars196 (.mat) ---------------------------------------------------------------------- */

/* Element count of v from its dims; 0 when dims are missing. */
static size_t mat_numel(const matvar_t *v) {
    if (!v->dims || v->rank < 1) return 0;
    size_t n = 1;
    for (int d = 0; d < v->rank; d++) n *= v->dims[d];
    return n;
}

/* A real numeric scalar as double; the byte count is checked against the class, because matio
 * can hand back inconsistent dims / types for damaged files. */
static int mat_scalar(matvar_t *v, double *out) {
    if (!v || !v->data || v->isComplex || mat_numel(v) != 1) return 0;
    static const size_t size_of[] = {
        [MAT_C_DOUBLE] = 8, [MAT_C_SINGLE] = 4, [MAT_C_INT8] = 1,  [MAT_C_UINT8] = 1,
        [MAT_C_INT16] = 2,  [MAT_C_UINT16] = 2, [MAT_C_INT32] = 4, [MAT_C_UINT32] = 4,
        [MAT_C_INT64] = 8,  [MAT_C_UINT64] = 8};
    if ((size_t)v->class_type >= sizeof(size_of) / sizeof(size_of[0]) || !size_of[v->class_type] ||
        v->nbytes < size_of[v->class_type] || (size_t)v->data_size != size_of[v->class_type])
        return 0;
    switch (v->class_type) {
    case MAT_C_DOUBLE:
        *out = *(double *)v->data;
        return 1;
    case MAT_C_SINGLE:
        *out = *(float *)v->data;
        return 1;
    case MAT_C_INT8:
        *out = *(int8_t *)v->data;
        return 1;
    case MAT_C_UINT8:
        *out = *(uint8_t *)v->data;
        return 1;
    case MAT_C_INT16:
        *out = *(int16_t *)v->data;
        return 1;
    case MAT_C_UINT16:
        *out = *(uint16_t *)v->data;
        return 1;
    case MAT_C_INT32:
        *out = *(int32_t *)v->data;
        return 1;
    case MAT_C_UINT32:
        *out = *(uint32_t *)v->data;
        return 1;
    case MAT_C_INT64:
        *out = (double)*(int64_t *)v->data;
        return 1;
    case MAT_C_UINT64:
        *out = (double)*(uint64_t *)v->data;
        return 1;
    default:
        return 0;
    }
}

static mx_status read_cars(const char *root, raw *r) {
    char *p = path_join(root, "cars_annos.mat");
    if (!p) return mx_error(MX_ERR_NOMEM, "cars: out of memory");
    mx_status chk = mx_mat_check(p); /* bounds libmatio's time and memory on damaged files */
    if (chk != MX_OK) {
        free(p);
        return chk;
    }
    mat_t *mat = Mat_Open(p, MAT_ACC_RDONLY);
    if (!mat) {
        mx_status st = mx_error(MX_ERR_IO, "%s: cannot open as a MAT file", p);
        free(p);
        return st;
    }
    mx_status st = MX_OK;
    matvar_t *an = Mat_VarRead(mat, "annotations");
    if (!an || an->class_type != MAT_C_STRUCT)
        st = mx_error(MX_ERR_FORMAT, "%s: expected a struct array 'annotations'", p);
    size_t n = 0, nf = 0, f_path = SIZE_MAX, f_class = SIZE_MAX;
    if (st == MX_OK) {
        /* matio (1.5.23) does not validate a damaged struct before Mat_VarGetStructField*
         * dereferences it: check the field table and the element array here */
        n = mat_numel(an);
        nf = Mat_VarGetNumberOfFields(an);
        char *const *names = Mat_VarGetStructFieldnames(an);
        for (size_t k = 0; names && k < nf; k++) {
            if (names[k] && !strcmp(names[k], "relative_im_path")) f_path = k;
            if (names[k] && !strcmp(names[k], "class")) f_class = k;
        }
        if (!an->dims || an->rank < 1 || f_path == SIZE_MAX || f_class == SIZE_MAX)
            st = mx_error(MX_ERR_FORMAT,
                          "%s: 'annotations' lacks the fields relative_im_path and class", p);
        else if (n > 0 && (!an->data || an->nbytes / sizeof(matvar_t *) < n * nf))
            st = mx_error(MX_ERR_FORMAT, "%s: 'annotations' has %zu elements but no data for them",
                          p, n);
    }
    char buf[1024];
    for (size_t i = 0; st == MX_OK && i < n; i++) {
        matvar_t *const *el = (matvar_t *const *)an->data + i * nf;
        matvar_t *fp = el[f_path], *fc = el[f_class];
        double cls;
        if (!fc || !mat_scalar(fc, &cls) || !(cls > -1e18 && cls < 1e18) || /* NaN, int64 */
            cls != (double)(int64_t)cls) {
            st = mx_error(MX_ERR_FORMAT, "%s: annotations(%zu).class: expected an integer scalar",
                          p, i + 1);
            break;
        }
        if (cls < 1 || cls > 196) {
            st = mx_error(MX_ERR_FORMAT, "%s: annotations(%zu).class: %g out of range 1..196", p,
                          i + 1, cls);
            break;
        }
        if (!fp || fp->class_type != MAT_C_CHAR || !fp->data) {
            st = mx_error(MX_ERR_FORMAT,
                          "%s: annotations(%zu).relative_im_path: expected a char array", p, i + 1);
            break;
        }
        size_t len = mat_numel(fp);
        if (len == 0 || len >= sizeof(buf) || (fp->data_size != 1 && fp->data_size != 2) ||
            fp->nbytes < len * (size_t)fp->data_size) {
            st = mx_error(MX_ERR_FORMAT,
                          "%s: annotations(%zu).relative_im_path: length %zu or width %d invalid",
                          p, i + 1, len, fp->data_size);
            break;
        }
        for (size_t k = 0; k < len; k++) {
            unsigned ch = fp->data_size == 1 ? ((uint8_t *)fp->data)[k] : ((uint16_t *)fp->data)[k];
            buf[k] = (char)(ch < 128 && ch ? ch : '?');
        }
        st = raw_add(r, root, buf, len, (int64_t)cls, 0);
    }
    Mat_VarFree(an);
    Mat_Close(mat);
    free(p);
    return st;
}

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
        char *full = path_join(dir, e->d_name);
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

static mx_status read_folder(const char *root, raw *r, int64_t *n_classes) {
    char **cls = NULL;
    int64_t nc = 0;
    MX_TRY(list_dir(root, 1, &cls, &nc));
    mx_status st = MX_OK;
    for (int64_t c = 0; st == MX_OK && c < nc; c++) {
        char *cd = path_join(root, cls[c]), **files = NULL;
        int64_t nf = 0;
        st = cd ? list_dir(cd, 0, &files, &nf) : mx_error(MX_ERR_NOMEM, "folder: out of memory");
        for (int64_t i = 0; st == MX_OK && i < nf; i++)
            st = raw_add(r, cd, files[i], strlen(files[i]), c, 0);
        for (int64_t i = 0; i < nf; i++) free(files[i]);
        free(files);
        free(cd);
    }
    for (int64_t c = 0; c < nc; c++) free(cls[c]);
    free(cls);
    *n_classes = nc;
    return st;
}

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
    static const char *names[] = {"fmnist", "cub", "cars", "sop", "inshop", "folder", "list"};
    return (int)k >= 0 && k <= MX_DS_LIST ? names[k] : "?";
}

mx_status mx_dataset_open(const mx_dataset_config *cfg, mx_dataset **out) {
    *out = NULL;
    const mx_split sp = cfg->split;
    const int train_side = sp == MX_SPLIT_TRAIN || sp == MX_SPLIT_VAL;
    if ((int)cfg->kind < 0 || cfg->kind > MX_DS_LIST)
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
    if (cfg->kind != MX_DS_FMNIST && (!cfg->root || !cfg->root[0]) && cfg->kind != MX_DS_LIST)
        return mx_error(MX_ERR_CONFIG, "dataset.root: required for %s", kind_name(cfg->kind));
    if (cfg->kind == MX_DS_LIST && !cfg->list)
        return mx_error(MX_ERR_CONFIG, "dataset.list: required for the list dataset");

    raw r;
    memset(&r, 0, sizeof(r));
    mx_status st = MX_OK;
    /* protocol class ranges (inclusive) */
    int64_t lo = INT64_MIN, hi = INT64_MAX, nfolders = 0;
    switch (cfg->kind) {
    case MX_DS_FMNIST:
        st = read_fmnist(cfg->root && cfg->root[0] ? cfg->root : MX_FMNIST_DIR, train_side, &r);
        lo = train_side ? 0 : 5;
        hi = train_side ? 4 : 9;
        break;
    case MX_DS_CUB:
        st = read_cub(cfg->root, &r);
        lo = train_side ? 1 : 101;
        hi = train_side ? 100 : 200;
        break;
    case MX_DS_CARS:
        st = read_cars(cfg->root, &r);
        lo = train_side ? 1 : 99;
        hi = train_side ? 98 : 196;
        break;
    case MX_DS_SOP:
        st = read_sop(cfg->root, train_side, &r);
        break;
    case MX_DS_INSHOP:
        st = read_inshop(cfg->root, &r);
        break;
    case MX_DS_FOLDER:
        st = read_folder(cfg->root, &r, &nfolders);
        lo = train_side ? 0 : (nfolders + 1) / 2;
        hi = train_side ? (nfolders + 1) / 2 - 1 : nfolders - 1;
        break;
    case MX_DS_LIST: {
        if (cfg->test_list) { /* separate files: all classes of the chosen file */
            st = read_list(train_side ? cfg->list : cfg->test_list, cfg->root, &r);
            lo = 0;
            break;
        }
        st = read_list(cfg->list, cfg->root, &r);
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
        raw_free(&r);
        return st;
    }
    if (cfg->class_lo >= 0 || cfg->class_hi >= 0) {
        lo = cfg->class_lo;
        hi = cfg->class_hi;
        if (lo < 0 || hi < lo) {
            raw_free(&r);
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
    raw_free(&r);
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
