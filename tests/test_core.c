/* Core: RNG determinism and distributions, error messages, threads, aligned memory. */
#include <stdint.h>
#include <string.h>

#include "metrix/core.h"
#include "mx_test.h"

static void test_rng_determinism(void) {
    mx_rng a, b;
    mx_rng_seed(&a, 42);
    mx_rng_seed(&b, 42);
    int same = 1;
    for (int i = 0; i < 1000; i++) same &= mx_rng_u64(&a) == mx_rng_u64(&b);
    CHECK(same);
    mx_rng_seed(&b, 43);
    CHECK(mx_rng_u64(&a) != mx_rng_u64(&b));
    /* split streams differ from the parent and from each other */
    mx_rng_seed(&a, 7);
    mx_rng c1 = mx_rng_split(&a), c2 = mx_rng_split(&a);
    CHECK(mx_rng_u64(&c1) != mx_rng_u64(&c2));
}

static void test_rng_distributions(void) {
    mx_rng r;
    mx_rng_seed(&r, 1);
    const int n = 200000;
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) {
        double u = mx_rng_uniform(&r);
        CHECK(u >= 0 && u < 1);
        s += u;
    }
    CHECK_CLOSE(s / n, 0.5, 0.005, 0);
    s = s2 = 0;
    for (int i = 0; i < n; i++) {
        double x = mx_rng_normal(&r);
        s += x;
        s2 += x * x;
    }
    CHECK_CLOSE(s / n, 0.0, 0.01, 0);
    CHECK_CLOSE(s2 / n, 1.0, 0.01, 0);
    /* Beta(2,2): mean 1/2, variance ab/((a+b)^2 (a+b+1)) = 1/20 */
    s = s2 = 0;
    for (int i = 0; i < n; i++) {
        double x = mx_rng_beta(&r, 2.0, 2.0);
        CHECK(x > 0 && x < 1);
        s += x;
        s2 += x * x;
    }
    double mean = s / n, var = s2 / n - mean * mean;
    CHECK_CLOSE(mean, 0.5, 0.005, 0);
    CHECK_CLOSE(var, 0.05, 0.002, 0);
    /* Beta(0.4, 0.4) exercises the shape < 1 branch: variance 0.16/(0.64*1.8) */
    s = s2 = 0;
    for (int i = 0; i < n; i++) {
        double x = mx_rng_beta(&r, 0.4, 0.4);
        s += x;
        s2 += x * x;
    }
    mean = s / n;
    CHECK_CLOSE(mean, 0.5, 0.01, 0);
    CHECK_CLOSE(s2 / n - mean * mean, 0.16 / (0.64 * 1.8), 0.004, 0);
    /* below(n) hits every bucket about equally */
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) counts[mx_rng_below(&r, 7)]++;
    for (int k = 0; k < 7; k++) CHECK(counts[k] > 9500 && counts[k] < 10500);
    /* shuffle is a permutation */
    int32_t v[100];
    for (int i = 0; i < 100; i++) v[i] = i;
    mx_rng_shuffle_i32(&r, v, 100);
    int seen[100] = {0}, moved = 0;
    for (int i = 0; i < 100; i++) {
        seen[v[i]]++;
        moved += v[i] != i;
    }
    for (int i = 0; i < 100; i++) CHECK(seen[i] == 1);
    CHECK(moved > 50);
}

static void test_errors(void) {
    mx_error_clear();
    CHECK(strcmp(mx_errmsg(), "") == 0);
    mx_status s = mx_error(MX_ERR_FORMAT, "%s: line %d: expected %s", "x.txt", 3, "two fields");
    CHECK(s == MX_ERR_FORMAT);
    CHECK(strcmp(mx_errmsg(), "x.txt: line 3: expected two fields") == 0);
    CHECK(strstr(mx_status_str(MX_ERR_IO), "MX_ERR_IO") != NULL);
    CHECK(mx_status_str((mx_status)999) != NULL);
}

static int g_logged;
static void capture(mx_log_level level, const char *msg, void *user) {
    (void)level;
    *(int *)user += strcmp(msg, "hello 5") == 0;
}

static void test_log(void) {
    mx_log_set(capture, &g_logged, MX_LOG_INFO);
    mx_log(MX_LOG_DEBUG, "hello %d", 5); /* below the minimum: dropped */
    mx_log(MX_LOG_INFO, "hello %d", 5);
    CHECK(g_logged == 1);
    mx_log_set(NULL, NULL, MX_LOG_WARN);
}

static void test_mem_threads(void) {
    void *p = mx_alloc(100);
    CHECK(p != NULL && ((uintptr_t)p % 64) == 0);
    mx_free(p);
    mx_free(NULL);
    float *z = mx_calloc(10, sizeof(float));
    CHECK(z && z[9] == 0.0f);
    mx_free(z);
    CHECK(mx_alloc(0) == NULL);
    CHECK(mx_calloc(SIZE_MAX / 2, 4) == NULL);
    CHECK(mx_threads_set(1) == 1 && mx_threads_get() == 1);
    CHECK(mx_threads_set(2) == 2 && mx_threads_get() == 2);
}

int main(void) {
    test_rng_determinism();
    test_rng_distributions();
    test_errors();
    test_log();
    test_mem_threads();
    return mx_test_finish("test_core");
}
