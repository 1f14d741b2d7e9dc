/* metrix io: safetensors (weights, checkpoints), NumPy .npy (embeddings, labels, inputs), and
 * atomic file writes (temp file + fsync + rename: a crash never leaves a half-written file).
 *
 * Ownership: an mx_safetensors handle owns the file contents; tensor views returned by it point
 * into them and stay valid until mx_st_free. An mx_array owns its data (mx_array_free). */
#ifndef METRIX_IO_H
#define METRIX_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "metrix/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MX_MAX_DIMS 8

typedef enum mx_dtype {
    MX_DTYPE_F32 = 0,
    MX_DTYPE_F64,
    MX_DTYPE_F16,
    MX_DTYPE_BF16,
    MX_DTYPE_I64,
    MX_DTYPE_I32,
    MX_DTYPE_I16,
    MX_DTYPE_I8,
    MX_DTYPE_U8,
    MX_DTYPE_U16,
    MX_DTYPE_U32,
    MX_DTYPE_U64,
    MX_DTYPE_BOOL,
    MX_DTYPE_COUNT
} mx_dtype;

/* Bytes per element; safetensors / numpy names ("F32" / "<f4"). */
size_t mx_dtype_size(mx_dtype t);
const char *mx_dtype_name(mx_dtype t); /* safetensors name: "F32", "I64", ...; "?" if invalid */
/* Added: numpy descr ("<f4", "|u1", ...; NULL for BF16 and invalid); safetensors name -> dtype
 * (returns 1 and sets *out, or 0 if unknown). */
const char *mx_dtype_npy_descr(mx_dtype t);
int mx_dtype_from_name(const char *name, mx_dtype *out);

/* ---- safetensors ------------------------------------------------------------------------- */

typedef struct mx_tensor_view {
    const char *name;
    mx_dtype dtype;
    int ndim;
    int64_t shape[MX_MAX_DIMS];
    const void *data; /* little-endian, row-major; may be unaligned */
    size_t nbytes;
} mx_tensor_view;

typedef struct mx_safetensors mx_safetensors;

/* Reads and validates a whole file (header JSON, dtypes, shapes, byte ranges tiling the data,
 * file size). Errors name the file and the tensor or header field at fault. */
mx_status mx_st_open(const char *path, mx_safetensors **out);
void mx_st_free(mx_safetensors *st);
size_t mx_st_count(const mx_safetensors *st);
const mx_tensor_view *mx_st_at(const mx_safetensors *st, size_t i);
const mx_tensor_view *mx_st_find(const mx_safetensors *st, const char *name); /* NULL: absent */
/* __metadata__ value for key, or NULL. */
const char *mx_st_metadata(const mx_safetensors *st, const char *key);
/* Copies tensor `name` into dst as float32 (F32, F64, F16 and BF16 are converted), checking
 * that its shape equals shape[0..ndim). Missing tensor or other shape: MX_ERR_SHAPE / FORMAT with
 * a message naming the file, tensor, and both shapes. */
mx_status mx_st_read_f32(const mx_safetensors *st, const char *name, int ndim,
                         const int64_t *shape, float *dst);

/* Added: the same with exact integer semantics: I64/I32/I16/I8/U32/U16/U8/BOOL widened to
 * int64 (U64 and float dtypes: MX_ERR_FORMAT). ndim 0 with shape NULL reads a scalar. */
mx_status mx_st_read_i64(const mx_safetensors *st, const char *name, int ndim,
                         const int64_t *shape, int64_t *dst);
/* Added: copies the raw bytes of tensor `name`, which must have exactly this dtype and shape. */
mx_status mx_st_read_raw(const mx_safetensors *st, const char *name, mx_dtype dtype, int ndim,
                         const int64_t *shape, void *dst);
/* Added: strict name check for loading a whole model or checkpoint: MX_ERR_FORMAT naming the
 * first missing name, or the first tensor in the file that is not in names[0..n). */
mx_status mx_st_check_names(const mx_safetensors *st, const char *const *names, size_t n);
/* Added: the path the handle was opened from (for messages). */
const char *mx_st_path(const mx_safetensors *st);

/* Writes tensors (with optional metadata: meta[2i] = key, meta[2i+1] = value) atomically.
 * Tensors are stored in the order given (header and data); the header is padded with spaces to
 * a multiple of 8 bytes so the data is 8-byte aligned. Names must be unique and non-empty, and
 * each view's nbytes must equal numel x dtype size (MX_ERR_ARG otherwise). */
mx_status mx_st_write(const char *path, const mx_tensor_view *tensors, size_t n,
                      const char *const *meta, size_t n_meta);

/* ---- .npy -------------------------------------------------------------------------------- */

typedef struct mx_array {
    mx_dtype dtype;
    int ndim;
    int64_t shape[MX_MAX_DIMS];
    void *data; /* owned, C order, native little-endian */
} mx_array;

/* Reads versions 1.0-3.0, C order only (fortran_order True is an error), little-endian or
 * byte-order-free dtypes. */
mx_status mx_npy_read(const char *path, mx_array *out);
/* Writes version 1.0 atomically. */
mx_status mx_npy_write(const char *path, mx_dtype dtype, int ndim, const int64_t *shape,
                       const void *data);
int64_t mx_array_numel(const mx_array *a);
void mx_array_free(mx_array *a); /* frees data, zeroes the struct; NULL-safe */

/* ---- atomic files ------------------------------------------------------------------------ */

typedef struct mx_atomic_file mx_atomic_file;
/* Opens "<path>.tmp.<pid>" for writing; *fp is the stream to write to. */
mx_status mx_atomic_open(const char *path, mx_atomic_file **out, FILE **fp);
/* Flushes, fsyncs and renames over path; frees the handle. On failure the temp file is removed
 * and path is untouched. */
mx_status mx_atomic_commit(mx_atomic_file *f);
/* Closes and removes the temp file; frees the handle. NULL-safe. */
void mx_atomic_abort(mx_atomic_file *f);

/* ---- checkpoints (added) ----------------------------------------------------------------- */

/* A checkpoint is a safetensors file whose __metadata__ has MX_CKPT_FORMAT_KEY =
 * MX_CKPT_FORMAT, plus any caller metadata (e.g. "config" = JSON text). The trainer chooses the
 * tensor names (parameters, BN running stats, optimizer moments, counters, RNG states).
 *
 * Writing: build an mx_ckpt, add tensors, save. mx_ckpt_add copies the name but only references
 * data, which must stay valid until mx_ckpt_save returns; mx_ckpt_add_i64 / _rng copy the value.
 * Tensors are written in the order added; mx_ckpt_save is atomic and may be called repeatedly.
 * Reading: mx_ckpt_open (mx_st_open + format check), then mx_st_read_f32 / _i64 / _raw and
 * mx_ckpt_read_i64 / _rng, which all check names, dtypes and shapes. */
#define MX_CKPT_FORMAT_KEY "format"
#define MX_CKPT_FORMAT "metrix.checkpoint.v1"

typedef struct mx_ckpt mx_ckpt;
mx_status mx_ckpt_create(mx_ckpt **out);
void mx_ckpt_free(mx_ckpt *c); /* NULL-safe */
mx_status mx_ckpt_add(mx_ckpt *c, const char *name, mx_dtype dtype, int ndim,
                      const int64_t *shape, const void *data);
mx_status mx_ckpt_add_i64(mx_ckpt *c, const char *name, int64_t value); /* I64 scalar */
mx_status mx_ckpt_add_rng(mx_ckpt *c, const char *name, const mx_rng *r); /* U64 [4] */
/* Sets (or replaces) a metadata string; both are copied. MX_CKPT_FORMAT_KEY is reserved
 * (mx_ckpt_save fails with MX_ERR_ARG if it was set). */
mx_status mx_ckpt_set_meta(mx_ckpt *c, const char *key, const char *value);
mx_status mx_ckpt_save(const mx_ckpt *c, const char *path);

mx_status mx_ckpt_open(const char *path, mx_safetensors **out);
mx_status mx_ckpt_read_i64(const mx_safetensors *st, const char *name, int64_t *value);
mx_status mx_ckpt_read_rng(const mx_safetensors *st, const char *name, mx_rng *r);

#ifdef __cplusplus
}
#endif
#endif
