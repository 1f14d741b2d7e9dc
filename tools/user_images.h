/* A user's own images for metrix embed --images and metrix search (private to the CLI): listing a
 * folder or a list file, decoding and embedding with a run, and the paths file next to E.npy. */
#ifndef MX_TOOLS_USER_IMAGES_H
#define MX_TOOLS_USER_IMAGES_H

#include <stdint.h>

#include "metrix/metrix.h"

typedef struct mx_ui_list {
    char **paths; /* owned */
    int64_t n, cap;
} mx_ui_list;

void mx_ui_list_free(mx_ui_list *l);
/* Appends a copy of path; 0 on out of memory (after printing). */
int mx_ui_list_add(const char *cmd, mx_ui_list *l, const char *path);

/* src is a folder (every .jpg / .jpeg / .png below it, recursively, hidden entries skipped,
 * sorted by path) or a list file (one image path per line, relative paths taken from the list's
 * folder, blank lines and lines starting with '#' skipped). 1 on success, else 0 after printing
 * one error line "metrix CMD: ...". An empty result is an error. */
int mx_ui_collect(const char *cmd, const char *src, mx_ui_list *out);

/* Decodes (JPEG / PNG) and embeds l's images with the run's test-time transform. A file that
 * cannot be read or decoded is reported on stderr with its path and the reason; with skip it is
 * left out (and counted), else it is fatal. On success *emb (n_ok x d, mx_free) and *kept (n_ok
 * indices into l, free) describe the embedded images. 1 on success, 0 after printing. */
int mx_ui_embed(const char *cmd, mx_trainer *t, const mx_ui_list *l, int skip, float **emb,
                int64_t **kept, int64_t *n_ok);

/* Writes the paths l->paths[kept[i]] (kept NULL: all), one per line, atomically. 1 / 0. */
int mx_ui_write_paths(const char *cmd, const char *path, const mx_ui_list *l, const int64_t *kept,
                      int64_t n);
/* Reads a paths file written by mx_ui_write_paths (one path per line, as given). 1 / 0. */
int mx_ui_read_paths(const char *cmd, const char *path, mx_ui_list *out);

#endif
