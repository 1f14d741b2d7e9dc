/* data: samplers (random: coverage, drop-last, determinism; m-per-class: structure, class
 * distinctness, determinism; errors for too few images / classes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrix/data.h"
#include "mx_test.h"

static void test_random(void) {
    const int64_t n = 1003;
    int64_t *lab = malloc(n * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) lab[i] = i % 7;
    mx_sampler_config c = mx_sampler_config_default();
    c.batch_size = 10;
    c.seed = 4;
    mx_sampler *s = NULL;
    CHECK_OK(mx_sampler_create(&c, lab, n, 7, &s));
    if (!s) return;
    CHECK(mx_sampler_batches(s) == 100 && mx_sampler_batch_size(s) == 10);
    int64_t *a = malloc(1000 * sizeof(int64_t)), *b = malloc(1000 * sizeof(int64_t));
    int *seen = calloc(n, sizeof(int));
    CHECK_OK(mx_sampler_epoch(s, 0, a));
    for (int i = 0; i < 1000; i++) seen[a[i]]++;
    int dup = 0, missing = 0;
    for (int64_t i = 0; i < n; i++) {
        dup += seen[i] > 1;
        missing += seen[i] == 0;
    }
    CHECK(dup == 0 && missing == 3); /* every example once except the dropped tail */
    CHECK_OK(mx_sampler_epoch(s, 0, b));
    CHECK(!memcmp(a, b, 1000 * sizeof(int64_t))); /* (seed, epoch) -> same order */
    CHECK_OK(mx_sampler_epoch(s, 1, b));
    CHECK(memcmp(a, b, 1000 * sizeof(int64_t)) != 0);
    /* not the identity order */
    int inorder = 0;
    for (int i = 0; i < 1000; i++) inorder += a[i] == i;
    CHECK(inorder < 20);
    mx_sampler_free(s);
    /* another seed, another order */
    c.seed = 5;
    CHECK_OK(mx_sampler_create(&c, lab, n, 7, &s));
    CHECK_OK(mx_sampler_epoch(s, 0, b));
    CHECK(memcmp(a, b, 1000 * sizeof(int64_t)) != 0);
    mx_sampler_free(s);
    /* errors */
    c.batch_size = 2000;
    CHECK(mx_sampler_create(&c, lab, n, 7, &s) == MX_ERR_CONFIG && s == NULL);
    CHECK(strstr(mx_errmsg(), "batch_size") != NULL);
    c.batch_size = 0;
    CHECK(mx_sampler_create(&c, lab, n, 7, &s) == MX_ERR_CONFIG);
    c.batch_size = 10;
    lab[5] = 7;
    CHECK(mx_sampler_create(&c, lab, n, 7, &s) == MX_ERR_ARG);
    mx_sampler_free(NULL);
    free(lab);
    free(a);
    free(b);
    free(seen);
}

static void test_m_per_class(void) {
    /* 30 classes of uneven size (class c has c % 4 + 1 images), 12 empty classes at the end */
    int64_t lab[200], n = 0;
    for (int c = 0; c < 30; c++)
        for (int k = 0; k <= c % 4; k++) lab[n++] = c;
    mx_sampler_config c = {MX_SAMPLER_M_PER_CLASS, 20, 5, 77};
    mx_sampler *s = NULL;
    CHECK_OK(mx_sampler_create(&c, lab, n, 42, &s));
    if (!s) return;
    const int64_t nb = mx_sampler_batches(s);
    CHECK(nb == n / 20);
    int64_t *a = malloc(nb * 20 * sizeof(int64_t)), *b = malloc(nb * 20 * sizeof(int64_t));
    CHECK_OK(mx_sampler_epoch(s, 3, a));
    int structure = 1, used[30] = {0};
    for (int64_t bt = 0; bt < nb; bt++) {
        const int64_t *o = a + bt * 20;
        int64_t cls[4];
        for (int j = 0; j < 4; j++) {
            cls[j] = lab[o[j * 5]];
            used[cls[j]] = 1;
            for (int q = 0; q < 5; q++)
                structure &= o[j * 5 + q] >= 0 && o[j * 5 + q] < n && lab[o[j * 5 + q]] == cls[j];
        }
        for (int j = 0; j < 4; j++)
            for (int k = j + 1; k < 4; k++) structure &= cls[j] != cls[k];
    }
    CHECK(structure); /* 4 distinct classes x 5 samples of each */
    CHECK_OK(mx_sampler_epoch(s, 3, b));
    CHECK(!memcmp(a, b, nb * 20 * sizeof(int64_t)));
    /* over many epochs every non-empty class is drawn */
    for (int e = 0; e < 50; e++) {
        CHECK_OK(mx_sampler_epoch(s, e, b));
        for (int64_t i = 0; i < nb * 20; i++) used[lab[b[i]]] = 1;
    }
    int all = 1;
    for (int k = 0; k < 30; k++) all &= used[k];
    CHECK(all);
    mx_sampler_free(s);
    /* errors: too few classes for batch / m, m not dividing the batch */
    c.batch_size = 200;
    c.m = 5;
    CHECK(mx_sampler_create(&c, lab, n, 42, &s) == MX_ERR_CONFIG);
    c.batch_size = 40;
    c.m = 1; /* 40 classes needed, 30 non-empty */
    CHECK(mx_sampler_create(&c, lab, n, 42, &s) == MX_ERR_CONFIG);
    CHECK(strstr(mx_errmsg(), "needs 40 classes") != NULL);
    c.m = 3;
    CHECK(mx_sampler_create(&c, lab, n, 42, &s) == MX_ERR_CONFIG);
    CHECK(strstr(mx_errmsg(), "sampler.m") != NULL);
    free(a);
    free(b);
}

int main(void) {
    test_random();
    test_m_per_class();
    return mx_test_finish("test_data_sampler");
}
