/* metrix core: status codes and error messages, logging, the seeded RNG, thread count.
 *
 * Every fallible function returns mx_status. On failure it also leaves a one-line message on
 * the calling thread, read with mx_errmsg(), that names the file / line / field at fault and
 * what was expected. The library never prints: diagnostics go through the log callback. */
#ifndef METRIX_CORE_H
#define METRIX_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status ------------------------------------------------------------------------------ */

typedef enum mx_status {
    MX_OK = 0,
    MX_ERR_NOMEM = 1,       /* an allocation failed */
    MX_ERR_IO = 2,          /* open / read / write / rename failed */
    MX_ERR_FORMAT = 3,      /* a file's contents are malformed */
    MX_ERR_SHAPE = 4,       /* array shapes or sizes disagree */
    MX_ERR_CONFIG = 5,      /* a configuration value is out of range or unknown */
    MX_ERR_ARG = 6,         /* a bad argument to an API call */
    MX_ERR_NUMERIC = 7,     /* NaN or Inf where finite numbers were required */
    MX_ERR_BACKEND = 8,     /* oneDNN / BLAS / codec failure */
    MX_ERR_INTERRUPTED = 9, /* stopped on request (signal) */
    MX_ERR_INTERNAL = 10    /* should not happen: a bug in metrix */
} mx_status;

/* Short constant name of a status ("MX_ERR_IO: input/output error"). Never NULL. */
const char *mx_status_str(mx_status s);

/* Message of the last error set on this thread ("" if none). Valid until the next failing call on
 * the same thread. */
const char *mx_errmsg(void);

/* Sets this thread's error message (printf format) and returns s, so that library code can write
 * `return mx_error(MX_ERR_FORMAT, "%s: line %d: expected ...", path, line);`. */
mx_status mx_error(mx_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Clears this thread's error message. */
void mx_error_clear(void);

/* ---- logging ----------------------------------------------------------------------------- */

typedef enum mx_log_level {
    MX_LOG_DEBUG = 0,
    MX_LOG_INFO = 1,
    MX_LOG_WARN = 2,
    MX_LOG_ERROR = 3,
    MX_LOG_NONE = 4
} mx_log_level;

typedef void (*mx_log_fn)(mx_log_level level, const char *msg, void *user);

/* Installs the process-wide log sink (NULL: the default, which writes WARN and above to stderr).
 * Messages below min_level are dropped before formatting. Not thread-safe against concurrent
 * mx_log_set; call it once at start-up. */
void mx_log_set(mx_log_fn fn, void *user, mx_log_level min_level);

/* Formats and sends a message to the log sink. */
void mx_log(mx_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- RNG --------------------------------------------------------------------------------- */

/* xoshiro256** (Blackman & Vigna) seeded through splitmix64. A plain struct so that it can be
 * copied into checkpoints; every function that samples takes one explicitly. */
typedef struct mx_rng {
    uint64_t s[4];
} mx_rng;

void mx_rng_seed(mx_rng *r, uint64_t seed);
/* An independent stream derived from r (advances r): for threads, or for sub-tasks (init,
 * shuffling, augmentation, mixing) that must not perturb each other. */
mx_rng mx_rng_split(mx_rng *r);
uint64_t mx_rng_u64(mx_rng *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint64_t mx_rng_below(mx_rng *r, uint64_t n);
/* Uniform in [0, 1) with 53 (double) or 24 (float) random bits. */
double mx_rng_uniform(mx_rng *r);
float mx_rng_uniformf(mx_rng *r);
/* Standard normal (Box-Muller, no cached spare: the state alone defines the stream). */
double mx_rng_normal(mx_rng *r);
/* Gamma(shape, 1) by Marsaglia & Tsang (shape > 0). */
double mx_rng_gamma(mx_rng *r, double shape);
/* Beta(a, b) = X / (X + Y), X ~ Gamma(a), Y ~ Gamma(b). */
double mx_rng_beta(mx_rng *r, double a, double b);
/* Fisher-Yates shuffle of n ints / int64s. */
void mx_rng_shuffle_i32(mx_rng *r, int32_t *v, size_t n);
void mx_rng_shuffle_i64(mx_rng *r, int64_t *v, size_t n);

/* ---- threads ----------------------------------------------------------------------------- */

/* Sets the number of threads used by metrix's own loops, oneDNN and OpenBLAS (one OpenMP pool;
 * no oversubscription). n <= 0 means the number of available cores. Returns the count set. */
int mx_threads_set(int n);
int mx_threads_get(void);

/* ---- memory ------------------------------------------------------------------------------ */

/* 64-byte aligned allocation (NULL on failure or size 0); free with mx_free (NULL is a no-op). */
void *mx_alloc(size_t size);
void *mx_calloc(size_t n, size_t size);
void mx_free(void *p);

/* ---- version ----------------------------------------------------------------------------- */

const char *mx_version(void);
/* One line naming the backends: oneDNN version and CPU ISA, OpenBLAS configuration, GEMM backend,
 * OpenMP threads. */
const char *mx_build_info(void);

#ifdef __cplusplus
}
#endif
#endif /* METRIX_CORE_H */
