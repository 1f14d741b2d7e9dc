/* The log sink. The only mutable globals of the library live here (set once at start-up). */
#include <stdarg.h>
#include <stdio.h>

#include "core/core_impl.h"

static void mx_log_default(mx_log_level level, const char *msg, void *user) {
    (void)user;
    static const char *names[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "metrix: %s: %s\n", names[level < MX_LOG_NONE ? level : MX_LOG_ERROR], msg);
}

static mx_log_fn g_log_fn = mx_log_default;
static void *g_log_user = NULL;
static mx_log_level g_log_min = MX_LOG_WARN;

void mx_log_set(mx_log_fn fn, void *user, mx_log_level min_level) {
    g_log_fn = fn ? fn : mx_log_default;
    g_log_user = user;
    g_log_min = min_level;
}

void mx_log(mx_log_level level, const char *fmt, ...) {
    if (level < g_log_min || level >= MX_LOG_NONE) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g_log_fn(level, buf, g_log_user);
}
