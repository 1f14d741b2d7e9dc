/* Private to the data module: a structural check of MAT v5 files run before libmatio reads them.
 *
 * libmatio (1.5.23) trusts the sizes a file declares: a damaged cars_annos.mat made it run for
 * minutes growing to 3.5 GB, or ask for one 4.3 GB allocation. mx_mat_check walks every element
 * of the file first (inflating compressed variables, with bounds) and accepts it only if each
 * declared size fits inside its enclosing element and every array's dimensions agree with the
 * bytes stored for it, so what matio then allocates is bounded by a small multiple of the
 * (inflated) file size and the walk itself is linear in it. */
#ifndef MX_DATA_MAT_READ_H
#define MX_DATA_MAT_READ_H

#include <stddef.h>
#include <stdint.h>

#include "metrix/core.h"

/* Limits; a real Stanford Cars cars_annos.mat (16185 annotations) is 0.6 MB on disk, inflates to
 * about 8 MB and holds about 113k arrays. */
#define MX_MAT_MAX_FILE     ((size_t)256 << 20) /* bytes on disk */
#define MX_MAT_MAX_INFLATED ((size_t)128 << 20) /* inflated bytes, all variables together */
#define MX_MAT_MAX_ARRAYS   1000000             /* arrays (miMATRIX elements), nested included */
#define MX_MAT_MAX_DEPTH    16                  /* cell / struct nesting */

/* Checks buf[0..size) (the whole file; name is used in messages). MX_ERR_IO when it is not a
 * MAT v5 file at all (no 128-byte header with version 0x0100 and an endian mark), MX_ERR_FORMAT
 * naming the variable and the inconsistency otherwise. */
mx_status mx_mat_check_buffer(const uint8_t *buf, size_t size, const char *name);

/* Reads path (at most MX_MAT_MAX_FILE bytes) and checks it as above. */
mx_status mx_mat_check(const char *path);

#endif
