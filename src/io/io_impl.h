/* Private helpers of the io module: whole-file reads, half-precision conversion, overflow-checked
 * sizes. */
#ifndef MX_IO_IMPL_H
#define MX_IO_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "metrix/io.h"

/* Reads the whole file at path into a fresh mx_alloc buffer (*out, *size; one extra NUL byte is
 * appended but not counted). Caller frees with mx_free. */
mx_status mx_io_read_file(const char *path, unsigned char **out, size_t *size);

/* IEEE binary16 / bfloat16 bit patterns to float32 (exact, incl. subnormals, Inf, NaN). */
float mx_f16_to_f32(uint16_t h);
float mx_bf16_to_f32(uint16_t h);

/* numel of shape[0..ndim) into *numel; 0 if a dim is negative or the product overflows int64. */
int mx_io_numel(int ndim, const int64_t *shape, int64_t *numel);

/* Writes "(2, 3)" style shape text into buf (for messages). */
const char *mx_io_shape_str(char *buf, size_t cap, int ndim, const int64_t *shape);

/* Fault injection for the trainer's fault tests (never called otherwise): mx_st_write /
 * mx_ckpt_save that, when kill_midway is non-zero, flush half the tensors into the temporary
 * file and raise SIGKILL, as a crash in the middle of a checkpoint write would. */
mx_status mx_st_write_fault(const char *path, const mx_tensor_view *tensors, size_t n,
                            const char *const *meta, size_t n_meta, int kill_midway);
mx_status mx_ckpt_save_fault(const mx_ckpt *c, const char *path, int kill_midway);

#endif
