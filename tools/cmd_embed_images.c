/* metrix embed --run DIR --images FOLDER|LIST.txt --output E.npy [--paths-output P.txt]:
 * embeddings of a user's own JPEG / PNG images with a trained run (test-time transform). */
#include <stdio.h>
#include <stdlib.h>

#include "cmd_embed_images.h"
#include "user_images.h"

int mx_embed_images(const char *dir, const char *ckpt, const mx_embed_images_opts *o,
                    const char *output, const char *labels_output) {
    if (!output) {
        fprintf(stderr, "metrix embed: --images needs --output E.npy\n");
        return 2;
    }
    if (labels_output) {
        fprintf(stderr, "metrix embed: --labels-output does not apply to --images (your images "
                        "have no labels; --paths-output P.txt names the rows)\n");
        return 2;
    }
    mx_ui_list l;
    if (!mx_ui_collect("embed", o->images, &l)) return 1;
    mx_trainer *t = NULL;
    float *e = NULL;
    int64_t *kept = NULL, n = 0;
    int rc = 1;
    mx_status st = mx_trainer_open_threads(dir, ckpt, o->threads, &t);
    if (st != MX_OK) {
        fprintf(stderr, "metrix embed: %s\n", mx_errmsg());
        goto done;
    }
    if (!mx_ui_embed("embed", t, &l, o->skip_unreadable, &e, &kept, &n)) goto done;
    int64_t shape[2] = {n, mx_trainer_embed_dim(t)};
    /* the paths first: E.npy appears only when both are complete */
    if (o->paths_output && !mx_ui_write_paths("embed", o->paths_output, &l, kept, n)) goto done;
    st = mx_npy_write(output, MX_DTYPE_F32, 2, shape, e);
    if (st != MX_OK) {
        fprintf(stderr, "metrix embed: %s\n", mx_errmsg());
        goto done;
    }
    printf("metrix embed: %lld of %lld images -> %s (%lld x %lld)%s%s\n", (long long)n,
           (long long)l.n, output, (long long)shape[0], (long long)shape[1],
           o->paths_output ? ", paths -> " : "", o->paths_output ? o->paths_output : "");
    rc = 0;
done:
    mx_trainer_free(t);
    mx_free(e);
    free(kept);
    mx_ui_list_free(&l);
    return rc;
}
