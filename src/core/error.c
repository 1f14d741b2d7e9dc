/* Status strings and the per-thread error message. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/core_impl.h"

static _Thread_local char mx_errbuf[1024];

const char *mx_status_str(mx_status s) {
    switch (s) {
    case MX_OK: return "MX_OK: success";
    case MX_ERR_NOMEM: return "MX_ERR_NOMEM: out of memory";
    case MX_ERR_IO: return "MX_ERR_IO: input/output error";
    case MX_ERR_FORMAT: return "MX_ERR_FORMAT: malformed file";
    case MX_ERR_SHAPE: return "MX_ERR_SHAPE: shape mismatch";
    case MX_ERR_CONFIG: return "MX_ERR_CONFIG: bad configuration value";
    case MX_ERR_ARG: return "MX_ERR_ARG: bad argument";
    case MX_ERR_NUMERIC: return "MX_ERR_NUMERIC: NaN or Inf";
    case MX_ERR_BACKEND: return "MX_ERR_BACKEND: backend failure";
    case MX_ERR_INTERRUPTED: return "MX_ERR_INTERRUPTED: interrupted";
    case MX_ERR_INTERNAL: return "MX_ERR_INTERNAL: internal error";
    }
    return "MX_ERR_?: unknown status";
}

const char *mx_errmsg(void) {
    return mx_errbuf;
}

void mx_error_clear(void) {
    mx_errbuf[0] = '\0';
}

mx_status mx_error(mx_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(mx_errbuf, sizeof mx_errbuf, fmt, ap);
    va_end(ap);
    return s;
}

_Noreturn void mx__assert_fail(const char *cond, const char *file, int line) {
    mx_log(MX_LOG_ERROR, "%s:%d: internal assertion failed: %s", file, line, cond);
    fprintf(stderr, "metrix: %s:%d: internal assertion failed: %s\n", file, line, cond);
    abort();
}
