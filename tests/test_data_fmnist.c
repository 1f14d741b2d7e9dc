/* data: the real Fashion-MNIST from Debian's dataset-fashion-mnist (skipped with a message when
 * absent): split sizes and classes, the dataset statistics behind the default normalisation,
 * and one loader epoch. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "metrix/data.h"
#include "mx_test.h"

int main(void) {
    struct stat sb;
    if (stat(MX_FMNIST_DIR "/train-images-idx3-ubyte.gz", &sb) != 0) {
        printf("test_data_fmnist: SKIPPED: %s not installed (apt-get install "
               "dataset-fashion-mnist)\n",
               MX_FMNIST_DIR);
        return mx_test_finish("test_data_fmnist");
    }
    mx_dataset_config c = mx_dataset_config_default();
    mx_dataset *tr = NULL, *te = NULL, *all = NULL;
    CHECK_OK(mx_dataset_open(&c, &tr));
    c.split = MX_SPLIT_TEST;
    CHECK_OK(mx_dataset_open(&c, &te));
    c.split = MX_SPLIT_TRAIN;
    c.class_lo = 0;
    c.class_hi = 9;
    CHECK_OK(mx_dataset_open(&c, &all));
    if (!tr || !te || !all) return mx_test_finish("test_data_fmnist");
    CHECK(mx_dataset_size(tr) == 30000 && mx_dataset_classes(tr) == 5);
    CHECK(mx_dataset_class_id(tr, 0) == 0 && mx_dataset_class_id(tr, 4) == 4);
    CHECK(mx_dataset_size(te) == 5000 && mx_dataset_classes(te) == 5);
    CHECK(mx_dataset_class_id(te, 0) == 5 && mx_dataset_class_id(te, 4) == 9);
    CHECK(mx_dataset_size(all) == 60000 && mx_dataset_classes(all) == 10);
    int64_t per_class[5] = {0};
    for (int64_t i = 0; i < 30000; i++) per_class[mx_dataset_labels(tr)[i]]++;
    for (int k = 0; k < 5; k++) CHECK(per_class[k] == 6000);

    /* mean / std of all 60,000 training images: the constants of mx_transform_config_fmnist */
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < 60000; i++) {
        mx_image im;
        if (mx_dataset_image(all, i, 0, &im) != MX_OK) break;
        for (int p = 0; p < 784; p++) {
            double v = im.data[p] / 255.0;
            s += v;
            s2 += v * v;
        }
        mx_image_free(&im);
    }
    double mean = s / (60000.0 * 784), sd = sqrt(s2 / (60000.0 * 784) - mean * mean);
    CHECK_CLOSE(mean, 0.2860, 5e-4, 0);
    CHECK_CLOSE(sd, 0.3530, 5e-4, 0);

    /* one training epoch through the loader: 300 batches of 100, labels within 0..4, finite */
    mx_sampler_config sc = mx_sampler_config_default();
    sc.batch_size = 100;
    mx_sampler *smp = NULL;
    CHECK_OK(mx_sampler_create(&sc, mx_dataset_labels(tr), 30000, 5, &smp));
    mx_transform_config tf = mx_transform_config_fmnist(1);
    mx_loader_config lc = mx_loader_config_default();
    mx_loader *ld = NULL;
    CHECK_OK(mx_loader_create(tr, smp, 0, &tf, &lc, &ld));
    if (ld) {
        float *img = malloc(100 * 784 * sizeof(float));
        int64_t lab[100], n, batches = 0, bad = 0;
        CHECK_OK(mx_loader_start_epoch(ld, 0));
        while (mx_loader_next(ld, img, lab, &n) == MX_OK && n > 0) {
            batches++;
            for (int k = 0; k < n; k++) bad += lab[k] < 0 || lab[k] > 4;
            for (int64_t p = 0; p < n * 784; p++) bad += !isfinite(img[p]);
        }
        CHECK(batches == 300 && bad == 0);
        free(img);
    }
    mx_loader_free(ld);

    /* the test split once, in order, without augmentation: 20 batches of 256 (the last 136) */
    mx_transform_config tt = mx_transform_config_fmnist(0);
    CHECK_OK(mx_loader_create(te, NULL, 256, &tt, &lc, &ld));
    if (ld) {
        float *img = malloc(256 * 784 * sizeof(float));
        int64_t lab[256], n, total = 0, batches = 0, order = 0;
        CHECK(mx_loader_batches(ld) == 20);
        CHECK_OK(mx_loader_start_epoch(ld, 0));
        while (mx_loader_next(ld, img, lab, &n) == MX_OK && n > 0) {
            for (int k = 0; k < n; k++) order += lab[k] != mx_dataset_labels(te)[total + k];
            total += n;
            batches++;
        }
        CHECK(total == 5000 && batches == 20 && order == 0);
        free(img);
    }
    mx_loader_free(ld);
    mx_sampler_free(smp);
    mx_dataset_free(tr);
    mx_dataset_free(te);
    mx_dataset_free(all);
    return mx_test_finish("test_data_fmnist");
}
