/* Private to the glyphs reader: the definition (dataset_glyphs.c parses it), the rendered set,
 * and the FreeType rendering (dataset_glyphs_render.c). */
#ifndef MX_GLYPHS_IMPL_H
#define MX_GLYPHS_IMPL_H

#include <stdint.h>

#include "data/dataset_impl.h"

#define G_MAX_FACES      255
#define G_MAX_RANGES     32
#define G_RENDER_VERSION 1 /* bump when the rendering changes: old caches are then ignored */

typedef struct gface {
    char path[1024];
    int index;
    int64_t fsize, mtime_ns;
} gface;

typedef struct gdef {
    int size, box, min_faces, n_ranges, n_faces;
    double test_fraction;
    uint64_t split_seed;
    uint32_t lo[G_MAX_RANGES], hi[G_MAX_RANGES];
    gface face[G_MAX_FACES];
    char src[1100]; /* the definition file, or "built-in" */
} gdef;

/* The rendered set: n records (code point, face, size x size pixels), sorted by (cp, face). */
typedef struct gset {
    int64_t n, cap;
    uint32_t *cp;
    uint16_t *face;
    uint8_t *px;
} gset;

void mx_glyphs_gset_free(gset *g);
mx_status mx_glyphs_gset_add(gset *g, uint32_t cp, int face, const uint8_t *px, size_t sz);

/* Renders the whole set of d into g (empty on entry): the code points that at least min_faces
 * character maps contain are rendered face by face; the classes are those with >= min_faces
 * valid renderings (in the character map, glyph not shared with another code point, rendered
 * with ink, not the face's .notdef drawing); records sorted by (code point, face). Counts go to
 * info (n_candidates, n_classes, face[]). */
mx_status mx_glyphs_render_all(const gdef *d, gset *g, mx_glyphs_info *info);

#endif
