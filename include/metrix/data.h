/* metrix data: dataset readers with class-disjoint DML splits, image decoding (TurboJPEG, libpng),
 * augmentation, batch samplers and a prefetching multi-threaded loader.
 *
 * Datasets (every split is class-disjoint; labels are remapped to 0..C-1 within a split and the
 * original class ids stay available through mx_dataset_class_id):
 *   FMNIST  Fashion-MNIST gzipped IDX (default dir /usr/share/datasets/fashion-mnist). Train:
 *           classes 0-4 of the train file (30,000 images); test: classes 5-9 of the t10k file
 *           (5,000). Images live in memory as uint8 1x28x28.
 *   CUB     root/images.txt + root/image_class_labels.txt, images under root/images/. Classes
 *           1-100 train, 101-200 test.
 *   CARS    root/cars_annos.mat (MAT v5, struct array `annotations`, fields `relative_im_path`,
 *           `class`), images under root/. Classes 1-98 train, 99-196 test.
 *   SOP     root/Ebay_train.txt / root/Ebay_test.txt (one header line, then
 *           `image_id class_id super_class_id path`), images under root/.
 *   INSHOP  root/list_eval_partition.txt or root/Eval/list_eval_partition.txt (count line, header
 *           line, rows `path item_id status`), images under root/ (or root/Img/ when the
 *           listed img/ folder sits there, as in some packages). Splits train / query /
 *           gallery; query and gallery share one label map (the union of their item ids), so a
 *           query label equals a gallery label exactly when the item ids agree.
 *   FOLDER  root/<class>/<image>: sorted class names are class ids 0..K-1; first half of the
 *           classes train, second half test.
 *   LIST    a file of `path label` lines: absolute paths are taken as they are, relative ones
 *           against root when it is given (root wins), else against the list file's folder;
 *           a listed file that does not exist is an error naming the list file and line when the
 *           list is read. Sorted distinct labels, first half train, second half test. With a
 *           second file test_list, `list` is the training split and test_list the test split,
 *           each with all of its classes.
 *   GLYPHS  characters rendered from installed CJK / Hangul fonts with FreeType (dataset_glyphs.c):
 *           class = Unicode code point (the class id), instance = its rendering by one font face;
 *           a character is a class when at least min_faces faces really contain it (character map
 *           entry, non-empty outline, not the face's .notdef box, glyph not shared with another
 *           code point). The definition (canvas size, box, ranges, faces, split seed) is
 *           root/glyphs.conf, or the built-in Debian one when that file is absent; the renderings
 *           are cached in root/glyphs-<key>.bin, keyed by the definition and every font file's
 *           path, size and mtime (a changed font is re-rendered, a missing one is an error).
 *           Classes are split class-disjointly by the definition's split seed (test_fraction to
 *           test); root/glyphs-<key>.txt lists the faces and which character went where. Images
 *           live in memory as uint8 1 x size x size (white glyph on black).
 * class_lo/class_hi (inclusive, original ids; for FOLDER the sorted folder index) override the
 * protocol's class range for the chosen split. val_fraction > 0 carves a class-disjoint
 * validation split from the training classes (MX_SPLIT_VAL), and MX_SPLIT_TRAIN then holds the
 * remaining classes; which classes go where depends only on val_seed.
 *
 * Errors name the file and line (or record) at fault: missing files, bad lines, labels out of
 * range, corrupt IDX headers, wrong counts, truncated or undecodable images. */
#ifndef METRIX_DATA_H
#define METRIX_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "metrix/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- images ------------------------------------------------------------------------------ */

/* An 8-bit image, interleaved HWC, c = 1 (gray) or 3 (RGB). data is owned (mx_image_free),
 * except for the views filled in by mx_decoder_* and mx_dataset_image_view. */
typedef struct mx_image {
    int w, h, c;
    uint8_t *data;
} mx_image;

void mx_image_free(mx_image *im); /* frees data and zeroes the struct; NULL-safe */

/* Decodes a JPEG or PNG (detected by magic bytes) held in memory; `name` is used in messages.
 * JPEG: when min_short > 0 TurboJPEG's reduced DCT scaling picks the smallest of the fast scales
 * 1/2, 1/4, 1/8 whose shorter side is still >= min_short (none fits, or 0: full size); gray
 * stays gray, CMYK / YCCK (Adobe, inverted) becomes RGB. PNG: palette, gray < 8 bit, 16-bit, tRNS
 * and alpha are normalised to 8-bit gray or RGB (alpha is dropped). The output keeps the file's
 * colour model: c = 1 for gray images, 3 otherwise. */
mx_status mx_image_decode(const void *buf, size_t size, const char *name, int min_short,
                          mx_image *out);
/* Reads the whole file and decodes it. */
mx_status mx_image_load(const char *path, int min_short, mx_image *out);

/* A reusable decoder (one per thread): its file and pixel buffers grow to the largest image seen
 * and are reused, so steady-state decoding does not allocate. The image filled in by
 * mx_decoder_decode / mx_decoder_load is a view into the decoder (do not mx_image_free it),
 * valid until the decoder's next call. */
typedef struct mx_decoder mx_decoder;
mx_status mx_decoder_create(mx_decoder **out);
void mx_decoder_free(mx_decoder *d); /* NULL-safe */
mx_status mx_decoder_decode(mx_decoder *d, const void *buf, size_t size, const char *name,
                            int min_short, mx_image *view);
mx_status mx_decoder_load(mx_decoder *d, const char *path, int min_short, mx_image *view);

/* ---- transforms -------------------------------------------------------------------------- */

typedef enum mx_transform_kind {
    /* RandomResizedCrop(out_size, scale, ratio; torchvision's 10 attempts + centre-crop
     * fallback), bilinear, then horizontal flip with probability flip_p. */
    MX_TF_TRAIN_RRC = 0,
    /* Resize the shorter side to resize_size (bilinear), centre crop out_size. */
    MX_TF_TEST_RESIZE_CROP,
    /* Fashion-MNIST training: zero-pad by `pad`, random crop out_size, horizontal flip flip_p. */
    MX_TF_TRAIN_PAD_CROP,
    /* No geometry: the image must already be out_size x out_size (Fashion-MNIST test). */
    MX_TF_NONE,
    /* Glyphs training: a random affine map about the centre (rotation +-rot_deg, isotropic scale
     * scale_lo..scale_hi, shift +-pad pixels per axis), bilinear with zero fill, of an
     * out_size x out_size image, then additive Gaussian noise of std noise_std (in 0..255 units),
     * clamped to 0..255. */
    MX_TF_TRAIN_AFFINE
} mx_transform_kind;

typedef struct mx_transform_config {
    mx_transform_kind kind;
    int out_size;    /* output H = W */
    int resize_size; /* TEST_RESIZE_CROP: shorter side after resizing */
    float scale_lo, scale_hi, ratio_lo, ratio_hi; /* TRAIN_RRC */
    float flip_p;                                 /* TRAIN_*: probability of a horizontal flip */
    int pad;                                      /* TRAIN_PAD_CROP */
    int channels;          /* 1 or 3: gray is replicated to RGB, RGB is reduced by luma to gray */
    float mean[3], std[3]; /* per output channel, applied to pixel / 255 */
    float rot_deg;         /* TRAIN_AFFINE: largest rotation in degrees */
    float noise_std;       /* TRAIN_AFFINE: Gaussian pixel noise, 0..255 units */
} mx_transform_config;

/* ImageNet protocols (method.md 5.4): TRAIN_RRC 224 (scale 0.08-1, ratio 3/4-4/3, flip 0.5) or
 * TEST_RESIZE_CROP 256 -> 224; 3 channels, ImageNet mean 0.485,0.456,0.406 / std 0.229,0.224,
 * 0.225. */
mx_transform_config mx_transform_config_default(mx_transform_kind kind);
/* Fashion-MNIST: train = zero-pad 2, random crop 28, flip 0.5; test = none. 1 channel, mean
 * 0.2860, std 0.3530 (the dataset's statistics). */
mx_transform_config mx_transform_config_fmnist(int train);
/* Glyphs (size x size renderings): train = TRAIN_AFFINE (rotation 8 degrees, scale 0.9-1.1, shift
 * 2 px, noise 8), test = none. 1 channel, mean 0.15, std 0.3. */
mx_transform_config mx_transform_config_glyphs(int train, int size);
mx_status mx_transform_config_check(const mx_transform_config *cfg);

/* Shorter side the transform needs from the decoder (min_short for mx_image_decode). */
int mx_transform_min_short(const mx_transform_config *cfg);

/* Applies cfg to im, writing float32 channels x out_size x out_size (CHW) to out. Sampling uses
 * rng only (TRAIN_* kinds). */
mx_status mx_transform_apply(const mx_transform_config *cfg, const mx_image *im, mx_rng *rng,
                             float *out);

/* torchvision RandomResizedCrop.get_params: crop (top, left, h, w) of a width x height image. */
void mx_rrc_params(mx_rng *rng, int width, int height, float scale_lo, float scale_hi,
                   float ratio_lo, float ratio_hi, int *top, int *left, int *h, int *w);

/* Bilinear resample (torch interpolate, align_corners=False, no antialias) of the crop
 * (top, left, h, w) of im to rh x rw, then the window (oy, ox, oh, ow) of that resized image,
 * optionally mirrored, into float CHW values in 0..255 (im->c x oh x ow). The building block
 * of resize / centre-crop / RandomResizedCrop. */
void mx_image_resample(const mx_image *im, int top, int left, int h, int w, int rh, int rw, int oy,
                       int ox, int oh, int ow, int flip, float *out_chw);

/* ---- datasets ---------------------------------------------------------------------------- */

typedef enum mx_dataset_kind {
    MX_DS_FMNIST = 0,
    MX_DS_CUB,
    MX_DS_CARS,
    MX_DS_SOP,
    MX_DS_INSHOP,
    MX_DS_FOLDER,
    MX_DS_LIST,
    MX_DS_GLYPHS
} mx_dataset_kind;

typedef enum mx_split {
    MX_SPLIT_TRAIN = 0,
    MX_SPLIT_TEST,
    MX_SPLIT_VAL,    /* the validation classes carved from the training classes */
    MX_SPLIT_QUERY,  /* In-Shop */
    MX_SPLIT_GALLERY /* In-Shop */
} mx_split;

typedef struct mx_dataset_config {
    mx_dataset_kind kind;
    const char *root;      /* dataset folder (FMNIST: NULL or "" = Debian path) */
    const char *list;      /* LIST: the list file (the training list when test_list is set) */
    const char *test_list; /* LIST: optional separate test list (NULL: split `list` in halves) */
    mx_split split;
    int64_t class_lo, class_hi; /* inclusive original-id range; -1, -1 = the protocol's */
    double val_fraction;        /* 0: no validation split */
    uint64_t val_seed;
} mx_dataset_config;

#define MX_FMNIST_DIR "/usr/share/datasets/fashion-mnist"

/* FMNIST, train split, protocol classes, no validation split. */
mx_dataset_config mx_dataset_config_default(void);

typedef struct mx_dataset mx_dataset;

mx_status mx_dataset_open(const mx_dataset_config *cfg, mx_dataset **out);
void mx_dataset_free(mx_dataset *ds);
int64_t mx_dataset_size(const mx_dataset *ds);
int mx_dataset_classes(const mx_dataset *ds);
/* Labels 0..C-1, n entries (owned by ds). */
const int64_t *mx_dataset_labels(const mx_dataset *ds);
/* Original class id of label c (dataset numbering: FMNIST 0-9, CUB 1-200, In-Shop item number). */
int64_t mx_dataset_class_id(const mx_dataset *ds, int c);
/* Image path of example i, or NULL for in-memory datasets (FMNIST). */
const char *mx_dataset_path(const mx_dataset *ds, int64_t i);
/* Decodes example i (in-memory: a copy). min_short as in mx_image_decode. */
mx_status mx_dataset_image(const mx_dataset *ds, int64_t i, int min_short, mx_image *out);
/* The same without allocating: a read-only view into d's buffers (files) or into the dataset
 * (in-memory images), valid until d's next call. Thread-safe with one decoder per thread. */
mx_status mx_dataset_image_view(const mx_dataset *ds, int64_t i, int min_short, mx_decoder *d,
                                mx_image *view);

/* ---- samplers ---------------------------------------------------------------------------- */

typedef enum mx_sampler_kind {
    MX_SAMPLER_RANDOM = 0, /* shuffle, drop the last incomplete batch (CUB, Cars) */
    MX_SAMPLER_M_PER_CLASS /* batch/m classes without replacement x m samples with replacement;
                              floor(N/B) batches per epoch (SOP, In-Shop) */
} mx_sampler_kind;

typedef struct mx_sampler_config {
    mx_sampler_kind kind;
    int batch_size;
    int m; /* samples per class (M_PER_CLASS); batch_size % m == 0 */
    uint64_t seed;
} mx_sampler_config;

mx_sampler_config mx_sampler_config_default(void); /* RANDOM, batch 100, m 5, seed 0 */

typedef struct mx_sampler mx_sampler;

/* labels: n entries in 0..n_classes-1 (copied). */
mx_status mx_sampler_create(const mx_sampler_config *cfg, const int64_t *labels, int64_t n,
                            int n_classes, mx_sampler **out);
void mx_sampler_free(mx_sampler *s);
int64_t mx_sampler_batches(const mx_sampler *s);
int mx_sampler_batch_size(const mx_sampler *s);
/* Writes the epoch's batches * batch_size example indices (batch-major). A function of (seed,
 * epoch) only: epochs can be replayed and resumed. */
mx_status mx_sampler_epoch(const mx_sampler *s, int64_t epoch, int64_t *idx);

/* ---- loader ------------------------------------------------------------------------------ */

typedef struct mx_loader_config {
    int workers;   /* background threads; 0 decodes in the calling thread */
    int prefetch;  /* batches in the ring (>= 1) */
    uint64_t seed; /* augmentation seed: example k of batch b in epoch e uses
                      mx_rng_seed(hash(seed, e, b * B + k)), independent of the worker */
    /* Data-parallel ranks (shards <= 1: the whole data). A training loader of shard s of S
     * decodes only rows [B s / S, B (s + 1) / S) of every batch (the same augmentation as one
     * process decoding them) and still returns the labels of the whole batch; an evaluation
     * loader covers the examples mx_loader_eval_shard gives. */
    int shard, shards;
} mx_loader_config;

/* The examples [*lo, *lo + *count) of n that shard s of S evaluates with batches of `batch`: whole
 * batches [nb s / S, nb (s + 1) / S) of the nb = ceil(n / batch) batches one process runs, so
 * every batch holds the same examples as in one process (the network's output for an example can
 * depend in the last bits on the batch it runs in). S <= 1: all n. */
void mx_loader_eval_shard(int64_t n, int64_t batch, int shard, int shards, int64_t *lo,
                          int64_t *count);

mx_loader_config mx_loader_config_default(void); /* 2 workers, prefetch 3, seed 0, 1 shard */

typedef struct mx_loader mx_loader;

/* Training loader over (dataset, sampler, transform): ds and s must outlive it; tf is copied.
 * Evaluation loader: s = NULL, then every example once, in order, batches of eval_batch (the last
 * one may be short), and tf must be a test transform (TEST_RESIZE_CROP or NONE). */
mx_status mx_loader_create(const mx_dataset *ds, const mx_sampler *s, int eval_batch,
                           const mx_transform_config *tf, const mx_loader_config *cfg,
                           mx_loader **out);
/* Stops the workers (waiting for the batches in flight) and frees; NULL-safe. */
void mx_loader_free(mx_loader *ld);
/* Batches per epoch; batch size; floats per image (C*H*W). */
int64_t mx_loader_batches(const mx_loader *ld);
int mx_loader_batch_size(const mx_loader *ld);
int64_t mx_loader_image_floats(const mx_loader *ld);
/* Starts (or restarts) epoch `epoch`; the workers begin prefetching. */
mx_status mx_loader_start_epoch(mx_loader *ld, int64_t epoch);
/* Copies the next batch into images (batch_size x C x H x W) and labels (batch_size); *n is its
 * size, 0 at the end of the epoch. Decode errors of any example are returned here. A sharded
 * training loader writes only its rows of images (at their place in the batch), all labels. */
mx_status mx_loader_next(mx_loader *ld, float *images, int64_t *labels, int64_t *n);

#ifdef __cplusplus
}
#endif
#endif /* METRIX_DATA_H */
