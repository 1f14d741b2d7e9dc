/* Embedding a user's own images with a run's model and test-time transform. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "train/trainer_impl.h"

/* The test transform, made to accept any image size: Fashion-MNIST's (no geometry) becomes
 * resize-shorter-side + centre crop to the same input size and normalisation. */
static mx_transform_config user_transform(const mx_trainer *t) {
    mx_transform_config tf = t->tf_test;
    if (tf.kind == MX_TF_NONE) {
        tf.kind = MX_TF_TEST_RESIZE_CROP;
        tf.resize_size = tf.out_size;
    }
    return tf;
}

int mx_trainer_image_min_short(const mx_trainer *t) {
    mx_transform_config tf = user_transform(t);
    return mx_transform_min_short(&tf);
}

mx_status mx_trainer_embed_images(mx_trainer *t, int64_t n, const mx_image *images, float *emb) {
    if (n < 0 || (n > 0 && (!images || !emb)))
        return mx_error(MX_ERR_ARG, "mx_trainer_embed_images: n %" PRId64 " with NULL arrays", n);
    mx_transform_config tf = user_transform(t);
    mx_rng unused; /* the test transform does not sample */
    mx_rng_seed(&unused, 0);
    mx_model_set_inference(t->model, 1);
    mx_status s = MX_OK;
    for (int64_t done = 0; s == MX_OK && done < n;) {
        int64_t nb = MX_MIN((int64_t)t->B, n - done);
        for (int64_t i = 0; s == MX_OK && i < nb; i++) {
            s = mx_transform_apply(&tf, &images[done + i], &unused, t->images + i * t->img_floats);
            if (s != MX_OK) {
                char why[512]; /* copied: mx_error rewrites the message buffer */
                snprintf(why, sizeof why, "%s", mx_errmsg());
                s = mx_error(s, "image %" PRId64 " (%dx%d, %d channels): %s", done + i,
                             images[done + i].w, images[done + i].h, images[done + i].c, why);
            }
        }
        if (s == MX_OK)
            s = mx_model_forward(t->model, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, t->images, nb,
                                 emb + done * t->d);
        if (s == MX_OK) s = mx_eval_normalize(emb + done * t->d, nb, t->d);
        done += nb;
    }
    mx_model_set_inference(t->model, 0);
    mx_model_set_train(t->model, !t->cfg.bn_freeze);
    return s;
}
