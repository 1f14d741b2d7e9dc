/* Reliability regressions: every damaged input that ever made a metrix reader misbehave
 * (tests/fixtures/reliability/: the reported files; tests/fuzz/regressions/<reader>/: what the
 * fuzzers found) goes through the same reader entry points as the fuzz harnesses
 * (tests/fuzz/fuzz_targets.c), which must reject or accept it cleanly. Each reader's files run in
 * a child process, one file at a time under a 10 s alarm (and a 4 GiB address-space limit outside
 * the sanitizer builds), so a hang fails the test instead of stalling it; so does a single
 * allocation over 1 GiB.
 * Also checks that the seed corpora (tests/fuzz/fuzz_seeds.c) are accepted by their readers. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fuzz/fuzz_seeds.h"
#include "fuzz/fuzz_targets.h"
#include "mx_test.h"

#define MAX_SECONDS 10
#define MAX_FILES   256
#define MAX_ALLOC   ((size_t)1 << 30) /* largest single allocation a damaged input may cause */

#if defined(__SANITIZE_ADDRESS__)
#define MX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MX_ASAN 1
#endif
#endif

#if !defined(MX_ASAN)
/* The largest single request to malloc / calloc / realloc since the last reset, libmatio's and
 * libjpeg's included (this executable's definitions take precedence over libc's; blocks still
 * come from glibc, so glibc's free releases them). With a 4 GiB address-space limit a runaway
 * request would just fail; this records that it was made. The sanitizer builds have their own
 * allocator (and libFuzzer's -malloc_limit_mb does the same job in tests/fuzz). */
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
static size_t largest_alloc;
void *malloc(size_t n) {
    largest_alloc = n > largest_alloc ? n : largest_alloc;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t m) {
    size_t t = m && n > SIZE_MAX / m ? SIZE_MAX : n * m;
    largest_alloc = t > largest_alloc ? t : largest_alloc;
    return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n) {
    largest_alloc = n > largest_alloc ? n : largest_alloc;
    return __libc_realloc(p, n);
}
#else
static size_t largest_alloc;
#endif

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted file names in dir whose name ends with suffix (NULL: all); returns the count. */
static int list_files(const char *dir, const char *suffix, char **names) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_FILES) {
        size_t l = strlen(e->d_name), ls = suffix ? strlen(suffix) : 0;
        if (e->d_name[0] == '.' || l < ls || (suffix && strcmp(e->d_name + l - ls, suffix)))
            continue;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), cmp_str);
    return n;
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)(len > 0 ? len : 1));
    *n = b && len > 0 ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    return b;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Child: feeds the files in order to fn (one process, so state carries over, as it would in a
 * data loader); exits 0 if all behaved, 1 if one misbehaved; SIGALRM kills it on a hang.
 * want_accept: 1 every file must be accepted, 0 rejected-or-accepted cleanly. */
static void run_child(const char *dir, char **names, int n, fz_fn fn, int want_accept) {
#if !defined(MX_ASAN)
    struct rlimit rl = {(rlim_t)4 << 30, (rlim_t)4 << 30};
    setrlimit(RLIMIT_AS, &rl);
#endif
    int bad = 0;
    for (int i = 0; i < n; i++) {
        char p[4096];
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        size_t size = 0;
        uint8_t *b = slurp(p, &size);
        if (!b) {
            fprintf(stderr, "%s: cannot read\n", p);
            _exit(1);
        }
        printf("  %-40s %6zu bytes  ", names[i], size);
        fflush(stdout); /* named before it runs: a hang kills the child */
        alarm(MAX_SECONDS);
        largest_alloc = 0;
        double t0 = now();
        int r = fn(b, size);
        alarm(0);
        if (largest_alloc > MAX_ALLOC) {
            printf("asked for %zu bytes at once  ", largest_alloc);
            r = 1;
        }
        printf("%s  %.3f s\n",
               r                  ? "MISBEHAVED"
               : fz_last_accepted ? "accepted"
                                  : "rejected",
               now() - t0);
        if (r || (want_accept && !fz_last_accepted)) {
            fprintf(stderr, "%s: %s\n", p, r ? "reader misbehaved" : "seed not accepted");
            bad = 1;
        }
        free(b);
    }
    fflush(stdout);
    fz_cleanup();
    _exit(bad);
}

/* Runs the files of dir (with the suffix) through reader fn in a child; returns the count. */
static int check_dir(const char *dir, const char *suffix, fz_fn fn, int want_accept) {
    char *names[MAX_FILES];
    int n = list_files(dir, suffix, names);
    if (n == 0) return 0;
    printf("%s%s%s:\n", dir, suffix ? "/*" : "", suffix ? suffix : "");
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) run_child(dir, names, n, fn, want_accept);
    int status = 0;
    if (pid > 0) waitpid(pid, &status, 0);
    if (WIFSIGNALED(status))
        fprintf(stderr, "%s: child killed by signal %d%s\n", dir, WTERMSIG(status),
                WTERMSIG(status) == SIGALRM ? " (a file took more than 10 s)" : "");
    CHECK(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 0; i < n; i++) free(names[i]);
    return n;
}

int main(void) {
    char dir[4096];
    /* the damaged files reported by users */
    snprintf(dir, sizeof(dir), "%s/tests/fixtures/reliability", MX_SOURCE_DIR);
    CHECK(check_dir(dir, ".mat", fz_mat, 0) >= 2);
    CHECK(check_dir(dir, ".jpg", fz_image, 0) >= 2); /* damaged.jpg, then good.jpg */
    /* what the fuzzers found, and the seeds, one folder per reader */
    int total = 0;
    for (const fz_reader *r = fz_readers; r->name; r++) {
        snprintf(dir, sizeof(dir), "%s/tests/fuzz/regressions/%s", MX_SOURCE_DIR, r->name);
        total += check_dir(dir, NULL, r->fn, 0);
    }
    printf("%d fuzzer regression inputs\n", total);
    snprintf(dir, sizeof(dir), "%s/fuzz_seeds", MX_BINARY_DIR);
    CHECK(fz_write_seeds(dir) == 0);
    for (const fz_reader *r = fz_readers; r->name; r++) {
        char sub[4200];
        snprintf(sub, sizeof(sub), "%s/%s", dir, r->name);
        CHECK(check_dir(sub, NULL, r->fn, 1) >= 1);
    }
    return mx_test_finish("test_train_reliability");
}
