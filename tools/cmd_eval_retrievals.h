/* metrix eval --retrievals: options shared by cmd_eval.c and cmd_eval_retrievals.c. */
#ifndef MX_TOOLS_CMD_EVAL_RETRIEVALS_H
#define MX_TOOLS_CMD_EVAL_RETRIEVALS_H

#include <stdint.h>

typedef struct mx_eval_retrievals_opts {
    const char *path;                                   /* --retrievals FILE.png (NULL: none) */
    const char *images, *query_images, *gallery_images; /* .npy pictures of the embeddings */
    int queries, k; /* --queries N (8), --k / --neighbours K (8) */
} mx_eval_retrievals_opts;

/* 1 when the --retrievals / --*images options fit the mode (qg: query/gallery), else prints one
 * usage error line and returns 0 (exit code 2). */
int mx_eval_retrievals_usage(const mx_eval_retrievals_opts *o, int qg);
/* The picture of .npy embeddings q (nq x d; g == NULL: leave-one-out) with the images named in o.
 * Returns the exit code: 0, or 1 (bad file / failure). */
int mx_eval_retrievals_npy(const mx_eval_retrievals_opts *o, const float *q, const int64_t *ql,
                           int64_t nq, const float *g, const int64_t *gl, int64_t ng, int64_t d);

#endif
