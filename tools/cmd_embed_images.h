/* metrix embed --run DIR --images FOLDER|LIST.txt: embeddings of a user's own images. */
#ifndef MX_TOOLS_CMD_EMBED_IMAGES_H
#define MX_TOOLS_CMD_EMBED_IMAGES_H

#include "cli_opts.h"

typedef struct mx_embed_images_opts {
    const char *images;       /* --images FOLDER | LIST.txt */
    const char *paths_output; /* --paths-output P.txt: the embedded images' paths, in row order */
    int skip_unreadable;      /* --skip-unreadable: report and skip, else fatal */
    int threads;              /* --threads: -1 keeps the run's own setting */
} mx_embed_images_opts;

#define MX_EMBED_IMAGES_ROWS(o)                                                                    \
    MX_CLI_STR("--images", "SRC", &(o)->images,                                                    \
               "your own images: a FOLDER (.jpg/.jpeg/.png, recursive) or a LIST.txt of paths",    \
               ""),                                                                                \
        MX_CLI_STR("--paths-output", "P.txt", &(o)->paths_output,                                  \
                   "with --images: the embedded images' paths, one per row of E.npy", ""),         \
        MX_CLI_FLAGV("--skip-unreadable", &(o)->skip_unreadable, 1,                                \
                     "with --images: report unreadable images and go on (else they stop it)")

/* Exit code: 0, 1 (failure: nothing written), 2 (usage). */
int mx_embed_images(const char *dir, const char *ckpt, const mx_embed_images_opts *o,
                    const char *output, const char *labels_output);

#endif
