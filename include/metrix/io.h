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
const char *mx_dtype_name(mx_dtype t);

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

/* Writes tensors (with optional metadata: meta[2i] = key, meta[2i+1] = value) atomically. */
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

#ifdef __cplusplus
}
#endif
#endif
