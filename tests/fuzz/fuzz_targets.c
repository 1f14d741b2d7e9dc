/* Reader entry points for the fuzz harnesses and the regression ctest (see fuzz_targets.h). */
#include "fuzz_targets.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrix/data.h"
#include "metrix/io.h"
#include "metrix/train.h"

static char tmp_dir[256];
static mx_decoder *shared_dec;

/* rm -r of the temp folder (two levels: files and one level of subfolders). */
static void rm_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            rm_tree(p);
        else
            remove(p);
    }
    closedir(d);
    rmdir(dir);
}

void fz_cleanup(void) {
    mx_decoder_free(shared_dec);
    shared_dec = NULL;
    if (tmp_dir[0]) rm_tree(tmp_dir);
    tmp_dir[0] = 0;
}

/* tmp_dir/rel (rel may name a subfolder, which is created). */
static const char *tmp_path(const char *rel) {
    static char buf[4][1024];
    static int k;
    if (!tmp_dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(tmp_dir, sizeof(tmp_dir), "%s/mxfuzz.XXXXXX", t && t[0] ? t : "/tmp");
        if (!mkdtemp(tmp_dir)) abort();
        atexit(fz_cleanup);
    }
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmp_dir, rel);
    const char *sl = strrchr(rel, '/');
    if (sl) {
        char sub[1024];
        snprintf(sub, sizeof(sub), "%s/%.*s", tmp_dir, (int)(sl - rel), rel);
        mkdir(sub, 0700);
    }
    return buf[k];
}

static const char *put(const char *rel, const uint8_t *data, size_t size) {
    const char *p = tmp_path(rel);
    FILE *f = fopen(p, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    return p;
}

/* An error must leave a message; running out of memory on a fuzz-sized input is a bug. */
static int rejected_ok(mx_status st) {
    return st != MX_OK && st != MX_ERR_NOMEM && mx_errmsg()[0] != 0;
}

/* Sums the bytes (ASan / MSan: they must be inside an allocation and initialised). */
static unsigned touch(const void *p, size_t n) {
    unsigned s = 0;
    for (size_t k = 0; k < n; k++) s += ((const uint8_t *)p)[k];
    return s;
}

static volatile unsigned sink;
int fz_last_accepted;

int fz_npy(const uint8_t *data, size_t size) {
    mx_array a;
    mx_status st = mx_npy_read(put("a.npy", data, size), &a);
    if ((fz_last_accepted = st == MX_OK) == 0) return !rejected_ok(st) || a.data != NULL;
    int64_t numel = mx_array_numel(&a);
    size_t nb = (size_t)numel * mx_dtype_size(a.dtype);
    int bad = numel < 0 || a.ndim < 0 || a.ndim > MX_MAX_DIMS || nb > size || (nb && !a.data);
    if (!bad) sink += touch(a.data, nb);
    mx_array_free(&a);
    return bad;
}

static int is_float(mx_dtype t) {
    return t == MX_DTYPE_F32 || t == MX_DTYPE_F64 || t == MX_DTYPE_F16 || t == MX_DTYPE_BF16;
}

/* Every tensor of an open file: consistent view, raw / f32 / i64 reads by its own shape. */
static int probe_tensors(const mx_safetensors *st, size_t file_size) {
    size_t total = 0;
    for (size_t i = 0; i < mx_st_count(st); i++) {
        const mx_tensor_view *v = mx_st_at(st, i);
        if (!v || !v->name || v->ndim < 0 || v->ndim > MX_MAX_DIMS) return 1;
        int64_t numel = 1;
        for (int d = 0; d < v->ndim; d++) numel *= v->shape[d];
        if ((size_t)numel * mx_dtype_size(v->dtype) != v->nbytes || mx_st_find(st, v->name) != v)
            return 1;
        sink += touch(v->data, v->nbytes);
        total += v->nbytes;
        void *dst = malloc(MX_MAX_DIMS + (size_t)numel * 8);
        if (!dst) return 1;
        int bad = mx_st_read_raw(st, v->name, v->dtype, v->ndim, v->shape, dst) != MX_OK;
        if (is_float(v->dtype))
            bad |= mx_st_read_f32(st, v->name, v->ndim, v->shape, dst) != MX_OK;
        else if (v->dtype != MX_DTYPE_U64)
            bad |= mx_st_read_i64(st, v->name, v->ndim, v->shape, dst) != MX_OK;
        free(dst);
        if (bad) return 1;
    }
    return total > file_size;
}

int fz_safetensors(const uint8_t *data, size_t size) {
    mx_safetensors *st = NULL;
    mx_status s = mx_st_open(put("a.safetensors", data, size), &st);
    if ((fz_last_accepted = s == MX_OK) == 0) return !rejected_ok(s) || st != NULL;
    int bad = probe_tensors(st, size);
    const char *m = mx_st_metadata(st, "format");
    if (m) sink += touch(m, strlen(m));
    mx_st_free(st);
    return bad;
}

int fz_checkpoint(const uint8_t *data, size_t size) {
    mx_safetensors *st = NULL;
    mx_status s = mx_ckpt_open(put("c.safetensors", data, size), &st);
    if ((fz_last_accepted = s == MX_OK) == 0) return !rejected_ok(s) || st != NULL;
    int bad = probe_tensors(st, size);
    /* the trainer's typed reads: each either works or fails with a message */
    for (size_t i = 0; !bad && i < mx_st_count(st); i++) {
        const char *name = mx_st_at(st, i)->name;
        int64_t v;
        mx_rng r;
        s = mx_ckpt_read_i64(st, name, &v);
        bad |= s != MX_OK && !rejected_ok(s);
        s = mx_ckpt_read_rng(st, name, &r);
        bad |= s != MX_OK && !rejected_ok(s);
    }
    const char *names[2] = {"step", "epoch"};
    s = mx_st_check_names(st, names, 2);
    bad |= s != MX_OK && !rejected_ok(s);
    mx_st_free(st);
    return bad;
}

int fz_config(const uint8_t *data, size_t size) {
    mx_train_config c = mx_train_config_default();
    fz_last_accepted = 0;
    mx_status st = mx_train_config_load(&c, put("config.json", data, size));
    if (st != MX_OK) return !rejected_ok(st);
    st = mx_train_config_validate(&c);
    if (st != MX_OK) return !rejected_ok(st);
    fz_last_accepted = 1;
    /* a valid configuration must write as JSON that loads back and validates */
    FILE *f = fopen(tmp_path("config2.json"), "w");
    if (!f) return 1;
    mx_train_config_write_json(&c, f);
    fclose(f);
    mx_train_config c2 = mx_train_config_default();
    st = mx_train_config_load(&c2, tmp_path("config2.json"));
    if (st == MX_OK) st = mx_train_config_validate(&c2);
    return st != MX_OK;
}

static int check_dataset(mx_status st, mx_dataset *ds) {
    fz_last_accepted = st == MX_OK;
    if (st != MX_OK) return !rejected_ok(st) || ds != NULL;
    if (!ds) return 1;
    int bad = mx_dataset_size(ds) <= 0 || mx_dataset_classes(ds) <= 0;
    const int64_t *lab = mx_dataset_labels(ds);
    for (int64_t i = 0; !bad && i < mx_dataset_size(ds); i++) {
        bad |= lab[i] < 0 || lab[i] >= mx_dataset_classes(ds);
        const char *p = mx_dataset_path(ds, i);
        if (p) sink += touch(p, strlen(p));
    }
    mx_dataset_free(ds);
    return bad;
}

int fz_idx(const uint8_t *data, size_t size) {
    fz_last_accepted = 0;
    if (size < 4) return 0;
    size_t n =
        (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
    if (n > size - 4) n = size - 4;
    put("fm/train-images-idx3-ubyte.gz", data + 4, n);
    put("fm/train-labels-idx1-ubyte.gz", data + 4 + n, size - 4 - n);
    mx_dataset_config c = mx_dataset_config_default();
    c.kind = MX_DS_FMNIST;
    c.root = tmp_path("fm");
    mx_dataset *ds = NULL;
    mx_status st = mx_dataset_open(&c, &ds);
    if (st == MX_OK && ds) {
        mx_image im;
        st = mx_dataset_image(ds, 0, 0, &im);
        if (st == MX_OK) sink += touch(im.data, (size_t)im.w * im.h * im.c);
        mx_image_free(&im);
        if (st != MX_OK) {
            mx_dataset_free(ds);
            return 1;
        }
    }
    return check_dataset(st, ds);
}

int fz_index(const uint8_t *data, size_t size) {
    fz_last_accepted = 0;
    if (size < 2) return 0;
    const int which = data[0] % 4;
    const mx_split splits[4] = {MX_SPLIT_TRAIN, MX_SPLIT_TEST, MX_SPLIT_QUERY, MX_SPLIT_GALLERY};
    mx_dataset_config c = mx_dataset_config_default();
    c.split = splits[data[1] % (which == 3 ? 4 : 2)];
    if (which != 3 && data[1] & 4) c.val_fraction = 0.25;
    if (which != 3 && data[1] & 4 && c.split == MX_SPLIT_TEST) c.split = MX_SPLIT_VAL;
    data += 2;
    size -= 2;
    switch (which) {
    case 0:
        c.kind = MX_DS_LIST;
        /* the list reader checks that each listed file exists: the seeds' images, empty */
        for (const char *const *f = (const char *const[]){"a.png", "b.png", "c.png", "c d.png",
                                                         "d.png", "e.png", "f.png", NULL};
             *f; f++) {
            char name[32];
            snprintf(name, sizeof name, "list/%s", *f);
            put(name, (const uint8_t *)"", 0);
        }
        c.list = put("list/list.txt", data, size);
        break;
    case 1: {
        const uint8_t *z = memchr(data, 0, size);
        size_t n = z ? (size_t)(z - data) : size;
        put("cub/images.txt", data, n);
        put("cub/image_class_labels.txt", z ? z + 1 : data, z ? size - n - 1 : 0);
        c.kind = MX_DS_CUB;
        c.root = tmp_path("cub");
        break;
    }
    case 2:
        put(c.split == MX_SPLIT_TRAIN ? "sop/Ebay_train.txt" : "sop/Ebay_test.txt", data, size);
        c.kind = MX_DS_SOP;
        c.root = tmp_path("sop");
        break;
    default:
        put("inshop/list_eval_partition.txt", data, size);
        c.kind = MX_DS_INSHOP;
        c.root = tmp_path("inshop");
        break;
    }
    mx_dataset *ds = NULL;
    mx_status st = mx_dataset_open(&c, &ds);
    return check_dataset(st, ds);
}

int fz_image(const uint8_t *data, size_t size) {
    if (!shared_dec && mx_decoder_create(&shared_dec) != MX_OK) return 1;
    const int min_short = (int)(size % 23); /* 0 (full size) .. 22: exercises DCT scaling */
    mx_image v, o;
    mx_status s1 = mx_decoder_decode(shared_dec, data, size, "fuzz", min_short, &v);
    if (s1 != MX_OK && !rejected_ok(s1)) return 1;
    mx_status s2 = mx_image_decode(data, size, "fuzz", min_short, &o);
    if (s2 != MX_OK && !rejected_ok(s2)) return 1;
    fz_last_accepted = s1 == MX_OK;
    int bad = (s1 == MX_OK) != (s2 == MX_OK); /* the reused decoder must agree with a fresh one */
    if (!bad && s1 == MX_OK) {
        size_t n = (size_t)v.w * v.h * v.c;
        bad = v.w < 1 || v.h < 1 || (v.c != 1 && v.c != 3) || v.w != o.w || v.h != o.h ||
              v.c != o.c || memcmp(v.data, o.data, n) != 0;
    }
    mx_image_free(&o);
    return bad;
}

int fz_mat(const uint8_t *data, size_t size) {
    put("cars/cars_annos.mat", data, size);
    mx_dataset_config c = mx_dataset_config_default();
    c.kind = MX_DS_CARS;
    c.root = tmp_path("cars");
    c.split = size % 2 ? MX_SPLIT_TEST : MX_SPLIT_TRAIN;
    mx_dataset *ds = NULL;
    mx_status st = mx_dataset_open(&c, &ds);
    return check_dataset(st, ds);
}

const fz_reader fz_readers[] = {{"npy", fz_npy},
                                {"safetensors", fz_safetensors},
                                {"checkpoint", fz_checkpoint},
                                {"config", fz_config},
                                {"idx", fz_idx},
                                {"index", fz_index},
                                {"image", fz_image},
                                {"mat", fz_mat},
                                {NULL, NULL}};
