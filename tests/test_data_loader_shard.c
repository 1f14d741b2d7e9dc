/* data: the loader's rank shards (data-parallel training). A training loader of shard s of S
 * decodes exactly rows [B s/S, B (s+1)/S) of every batch, with the same augmentation as the
 * whole loader, and returns every row's label; an evaluation loader's shards partition the
 * dataset in order; a batch that does not divide by the shards and a bad shard are refused. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrix/data.h"
#include "mx_test.h"
#include "test_data_fixtures.h"

static mx_loader *make(const mx_dataset *ds, const mx_sampler *s, int eval_batch,
                       const mx_transform_config *tf, int workers, int shard, int shards) {
    mx_loader_config lc = mx_loader_config_default();
    lc.workers = workers, lc.prefetch = 2, lc.seed = 7;
    lc.shard = shard, lc.shards = shards;
    mx_loader *ld = NULL;
    CHECK_OK(mx_loader_create(ds, s, eval_batch, tf, &lc, &ld));
    return ld;
}

int main(void) {
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/data_fixtures/loader_shard", MX_BINARY_DIR);
    if (fx_mkdirs(dir) != 0) return 1;
    const int n = 90;
    uint8_t *img = malloc((size_t)n * 784), lab[90];
    for (int i = 0; i < n; i++) {
        for (int p = 0; p < 784; p++) img[(size_t)i * 784 + p] = (uint8_t)((i * 31 + p * 7) % 253);
        lab[i] = (uint8_t)(i % 10);
    }
    uint32_t d3[3] = {(uint32_t)n, 28, 28}, d1[1] = {(uint32_t)n};
    char p[4096];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", dir);
    fx_idx(p, 0x803, 3, d3, img, (size_t)n * 784);
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte.gz", dir);
    fx_idx(p, 0x801, 1, d1, lab, (size_t)n);
    free(img);
    mx_dataset_config dc = mx_dataset_config_default();
    dc.root = dir;
    mx_dataset *ds = NULL;
    CHECK_OK(mx_dataset_open(&dc, &ds)); /* classes 0-4: 45 images */
    if (!ds) return mx_test_finish("test_data_loader_shard");
    const int B = 12, per = 784;
    mx_sampler_config sc = mx_sampler_config_default();
    sc.batch_size = B, sc.seed = 3;
    mx_sampler *s = NULL;
    CHECK_OK(mx_sampler_create(&sc, mx_dataset_labels(ds), mx_dataset_size(ds),
                               mx_dataset_classes(ds), &s));
    mx_transform_config tf = mx_transform_config_fmnist(1); /* augmentation on */
    float *whole = malloc(sizeof(float) * B * per), *part = malloc(sizeof(float) * B * per);
    int64_t wl[12], pl[12], nw, np;
    /* training: shards of 1, 2, 3 and 4 ranks against the whole loader, two epochs */
    for (int S = 1; S <= 4; S++)
        for (int sh = 0; sh < S; sh++) {
            mx_loader *w = make(ds, s, 0, &tf, 1, 0, 1), *q = make(ds, s, 0, &tf, sh % 2, sh, S);
            if (!w || !q) break;
            const int lo = B * sh / S, hi = B * (sh + 1) / S;
            int bad = 0, batches = 0;
            for (int64_t e = 0; e < 2; e++) {
                CHECK_OK(mx_loader_start_epoch(w, e));
                CHECK_OK(mx_loader_start_epoch(q, e));
                for (;;) {
                    memset(part, 0xff, sizeof(float) * B * per); /* NaN: rows not written */
                    CHECK_OK(mx_loader_next(w, whole, wl, &nw));
                    CHECK_OK(mx_loader_next(q, part, pl, &np));
                    if (nw == 0 || np != nw) break;
                    batches++;
                    bad += memcmp(wl, pl, sizeof(int64_t) * (size_t)nw) != 0;
                    bad += memcmp(whole + lo * per, part + lo * per,
                                  sizeof(float) * (size_t)((hi - lo) * per)) != 0;
                    for (int64_t k = 0; k < (int64_t)lo * per; k++) bad += part[k] == part[k];
                }
                CHECK(nw == 0 && np == 0);
            }
            CHECK(bad == 0 && batches == 2 * 3);
            mx_loader_free(w);
            mx_loader_free(q);
        }
    /* evaluation: the shards of 4 ranks, concatenated, are the whole split in order, cut at
     * whole batches of one process (9 batches of 5: 2, 2, 2, 3 per rank), so that every batch
     * holds the examples it holds in one process */
    mx_transform_config te = mx_transform_config_fmnist(0);
    int64_t at = 0;
    int bad = 0;
    for (int sh = 0; sh < 4; sh++) {
        mx_loader *q = make(ds, NULL, 5, &te, 1, sh, 4);
        if (!q) break;
        const int64_t lo = 5 * (9 * sh / 4), cnt = 5 * (9 * (sh + 1) / 4) - lo;
        int64_t lo2, cnt2;
        mx_loader_eval_shard(45, 5, sh, 4, &lo2, &cnt2);
        CHECK(lo2 == lo && cnt2 == cnt);
        CHECK(mx_loader_batches(q) == (cnt + 4) / 5);
        CHECK(at == lo);
        CHECK_OK(mx_loader_start_epoch(q, 0));
        for (;;) {
            CHECK_OK(mx_loader_next(q, part, pl, &np));
            if (np == 0) break;
            bad += at % 5 != 0 || (np != 5 && at + np != 45); /* one process's batches */
            for (int64_t k = 0; k < np; k++) {
                mx_image im;
                float want[784];
                CHECK_OK(mx_dataset_image(ds, at + k, 0, &im));
                CHECK_OK(mx_transform_apply(&te, &im, NULL, want));
                mx_image_free(&im);
                bad += memcmp(want, part + k * per, sizeof want) != 0;
                bad += pl[k] != mx_dataset_labels(ds)[at + k];
            }
            at += np;
        }
        mx_loader_free(q);
    }
    CHECK(bad == 0 && at == 45);
    /* refused: a batch of 12 over 5 shards, shard outside 0..S-1 */
    mx_loader_config lc = mx_loader_config_default();
    mx_loader *ld = NULL;
    lc.shards = 5;
    CHECK(mx_loader_create(ds, s, 0, &tf, &lc, &ld) == MX_ERR_CONFIG && !ld);
    CHECK(strstr(mx_errmsg(), "5 shards") != NULL);
    lc.shards = 2, lc.shard = 2;
    CHECK(mx_loader_create(ds, s, 0, &tf, &lc, &ld) == MX_ERR_CONFIG && !ld);
    free(whole);
    free(part);
    mx_sampler_free(s);
    mx_dataset_free(ds);
    return mx_test_finish("test_data_loader_shard");
}
