/* Glyphs: rendering with FreeType (outlines only, never a fallback face) and the coverage check
 * that decides which characters are classes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <ft2build.h>
#include FT_FREETYPE_H
#include FT_OUTLINE_H

#include "data/glyphs_impl.h"

void mx_glyphs_gset_free(gset *g) {
    free(g->cp);
    free(g->face);
    free(g->px);
    memset(g, 0, sizeof(*g));
}

mx_status mx_glyphs_gset_add(gset *g, uint32_t cp, int face, const uint8_t *px, size_t sz) {
    if (g->n == g->cap) {
        int64_t cap = g->cap ? 2 * g->cap : 4096;
        uint32_t *c = realloc(g->cp, (size_t)cap * sizeof(uint32_t));
        if (c) g->cp = c;
        uint16_t *f = realloc(g->face, (size_t)cap * sizeof(uint16_t));
        if (f) g->face = f;
        uint8_t *p = realloc(g->px, (size_t)cap * sz);
        if (p) g->px = p;
        if (!c || !f || !p)
            return mx_error(MX_ERR_NOMEM, "glyphs: out of memory at %ld renderings", (long)g->n);
        g->cap = cap;
    }
    g->cp[g->n] = cp;
    g->face[g->n] = (uint16_t)face;
    memcpy(g->px + (size_t)g->n * sz, px, sz);
    g->n++;
    return MX_OK;
}

/* Renders glyph gi of face into out (size x size, 0 = background): the outline scaled by
 * box / units_per_EM (shrunk further if its bounding box would not fit in size - 2), centred by
 * its bounding box. Returns 0 when the glyph has no outline or no ink. */
static int render(FT_Library lib, FT_Face face, FT_UInt gi, int size, int box, uint8_t *out) {
    memset(out, 0, (size_t)size * size);
    if (FT_Load_Glyph(face, gi, FT_LOAD_NO_SCALE) != 0) return 0;
    FT_GlyphSlot g = face->glyph;
    if (g->format != FT_GLYPH_FORMAT_OUTLINE || g->outline.n_points == 0) return 0;
    FT_BBox bb;
    FT_Outline_Get_CBox(&g->outline, &bb);
    double w = (double)(bb.xMax - bb.xMin), h = (double)(bb.yMax - bb.yMin);
    if (w <= 0 && h <= 0) return 0;
    double sc = (double)box / (face->units_per_EM ? face->units_per_EM : 1000);
    double big = (w > h ? w : h) * sc;
    if (big > size - 2) sc *= (size - 2) / big;
    /* 26.6 pixel coordinates: p' = sc * 64 * (p - centre) + 64 * size / 2 */
    FT_Matrix m = {(FT_Fixed)lround(sc * 65536.0 * 64), 0, 0, (FT_Fixed)lround(sc * 65536.0 * 64)};
    FT_Outline_Translate(&g->outline, -(bb.xMin + bb.xMax) / 2, -(bb.yMin + bb.yMax) / 2);
    FT_Outline_Transform(&g->outline, &m);
    FT_Outline_Translate(&g->outline, 32 * size, 32 * size);
    FT_Bitmap bm;
    memset(&bm, 0, sizeof bm);
    bm.rows = (unsigned)size;
    bm.width = (unsigned)size;
    bm.pitch = size;
    bm.buffer = out;
    bm.num_grays = 256;
    bm.pixel_mode = FT_PIXEL_MODE_GRAY;
    if (FT_Outline_Get_Bitmap(lib, &g->outline, &bm) != 0) return 0;
    int64_t ink = 0;
    for (int i = 0; i < size * size; i++) ink += out[i];
    return ink >= 2 * 255; /* at least two pixels' worth of ink */
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Per-face coverage of the definition's code points, and the renderings of those that count:
 * in the character map, glyph not shared with another code point of the ranges, rendered with
 * ink, not identical to the face's .notdef rendering. ok[k * n_cp + j] = 1 when code point j
 * counts for face k; cnt counts what happened per face. */
static mx_status scan_face(FT_Library lib, const gdef *d, int k, const uint32_t *cps, int64_t ncp,
                           uint8_t *ok, uint8_t *px, mx_glyphs_face_info *cnt) {
    const gface *f = &d->face[k];
    FT_Face face;
    FT_Error e = FT_New_Face(lib, f->path, f->index, &face);
    if (e != 0)
        return mx_error(MX_ERR_FORMAT, "glyphs: %s face %d: FreeType cannot open it (error %d)",
                        f->path, f->index, e);
    mx_status s = MX_OK;
    if (!FT_IS_SCALABLE(face))
        s = mx_error(MX_ERR_FORMAT, "glyphs: %s face %d: not an outline font", f->path, f->index);
    snprintf(cnt->name, sizeof cnt->name, "%s %s", face->family_name ? face->family_name : "?",
             face->style_name ? face->style_name : "");
    /* glyph index of every code point, and which glyphs more than one code point maps to */
    uint64_t *pairs = s == MX_OK ? malloc((size_t)MX_MAX(ncp, 1) * sizeof(uint64_t)) : NULL;
    uint8_t *notdef = malloc((size_t)d->size * d->size);
    if (s == MX_OK && (!pairs || !notdef)) s = mx_error(MX_ERR_NOMEM, "glyphs: out of memory");
    int64_t np = 0;
    for (int64_t j = 0; s == MX_OK && j < ncp; j++) {
        FT_UInt gi = FT_Get_Char_Index(face, cps[j]);
        if (gi == 0) {
            cnt->missing++;
            continue;
        }
        pairs[np++] = ((uint64_t)gi << 32) | (uint64_t)j;
    }
    if (s == MX_OK) {
        qsort(pairs, (size_t)np, sizeof(uint64_t), cmp_u64);
        if (!render(lib, face, 0, d->size, d->box, notdef))
            memset(notdef, 0, (size_t)d->size * d->size);
    }
    const size_t sz = (size_t)d->size * d->size;
    for (int64_t a = 0; s == MX_OK && a < np;) {
        int64_t b = a + 1;
        while (b < np && (pairs[b] >> 32) == (pairs[a] >> 32)) b++;
        if (b - a > 1) { /* one drawing for several characters: no evidence for either */
            cnt->shared += b - a;
            a = b;
            continue;
        }
        int64_t j = (int64_t)(pairs[a] & 0xffffffffu);
        uint8_t *o = px + (size_t)j * sz;
        if (!render(lib, face, (FT_UInt)(pairs[a] >> 32), d->size, d->box, o))
            cnt->empty++;
        else if (!memcmp(o, notdef, sz))
            cnt->notdef++;
        else {
            ok[(size_t)k * ncp + j] = 1;
            cnt->valid++;
        }
        a = b;
    }
    free(pairs);
    free(notdef);
    FT_Done_Face(face);
    return s;
}

/* How many faces map each code point (character map only), added to cnt[j]. */
static mx_status cmap_count(FT_Library lib, const gdef *d, const uint32_t *cps, int64_t ncp,
                            int *cnt) {
    for (int k = 0; k < d->n_faces; k++) {
        FT_Face face;
        FT_Error e = FT_New_Face(lib, d->face[k].path, d->face[k].index, &face);
        if (e != 0)
            return mx_error(MX_ERR_FORMAT, "glyphs: %s face %d: FreeType cannot open it (error %d)",
                            d->face[k].path, d->face[k].index, e);
        for (int64_t j = 0; j < ncp; j++) cnt[j] += FT_Get_Char_Index(face, cps[j]) != 0;
        FT_Done_Face(face);
    }
    return MX_OK;
}

mx_status mx_glyphs_render_all(const gdef *d, gset *g, mx_glyphs_info *info) {
    int64_t ncp = 0;
    for (int r = 0; r < d->n_ranges; r++) ncp += (int64_t)d->hi[r] - d->lo[r] + 1;
    const size_t sz = (size_t)d->size * d->size;
    uint32_t *cps = malloc((size_t)ncp * sizeof(uint32_t));
    int *cnt = calloc((size_t)ncp, sizeof(int));
    FT_Library lib = NULL;
    mx_status s = MX_OK;
    if (!cps || !cnt) s = mx_error(MX_ERR_NOMEM, "glyphs: out of memory");
    if (s == MX_OK && FT_Init_FreeType(&lib) != 0)
        s = mx_error(MX_ERR_INTERNAL, "glyphs: FreeType init failed");
    int64_t m = 0;
    for (int r = 0; s == MX_OK && r < d->n_ranges; r++)
        for (uint32_t c = d->lo[r]; c <= d->hi[r]; c++) cps[m++] = c;
    if (s == MX_OK) s = cmap_count(lib, d, cps, ncp, cnt);
    int64_t nc = 0; /* candidates, in place (ranges ascending: cps stays sorted) */
    for (int64_t j = 0; s == MX_OK && j < ncp; j++)
        if (cnt[j] >= d->min_faces) cps[nc++] = cps[j];
    info->n_candidates = nc;
    uint8_t *ok = s == MX_OK ? calloc((size_t)MX_MAX(nc, 1) * d->n_faces, 1) : NULL;
    /* one face's renderings at a time in px; the valid ones are kept in per[k] (cp order) */
    uint8_t *px = s == MX_OK ? malloc((size_t)MX_MAX(nc, 1) * sz) : NULL;
    gset *per = calloc((size_t)d->n_faces, sizeof(gset));
    int64_t *pos = calloc((size_t)d->n_faces, sizeof(int64_t));
    if (s == MX_OK && (!ok || !px || !per || !pos))
        s = mx_error(MX_ERR_NOMEM, "glyphs: out of memory");
    for (int k = 0; s == MX_OK && k < d->n_faces; k++) {
        s = scan_face(lib, d, k, cps, nc, ok, px, &info->face[k]);
        for (int64_t j = 0; s == MX_OK && j < nc; j++)
            if (ok[(size_t)k * nc + j])
                s = mx_glyphs_gset_add(&per[k], cps[j], k, px + (size_t)j * sz, sz);
    }
    for (int64_t j = 0; s == MX_OK && j < nc; j++) {
        int nf = 0;
        for (int k = 0; k < d->n_faces; k++) nf += ok[(size_t)k * nc + j];
        if (nf >= d->min_faces) info->n_classes++;
        for (int k = 0; s == MX_OK && k < d->n_faces; k++) {
            if (!ok[(size_t)k * nc + j]) continue;
            MX_ASSERT(pos[k] < per[k].n && per[k].cp[pos[k]] == cps[j]);
            if (nf >= d->min_faces)
                s = mx_glyphs_gset_add(g, cps[j], k, per[k].px + (size_t)pos[k] * sz, sz);
            pos[k]++;
        }
    }
    if (per)
        for (int k = 0; k < d->n_faces; k++) mx_glyphs_gset_free(&per[k]);
    free(per);
    free(pos);
    free(px);
    free(ok);
    free(cnt);
    free(cps);
    if (lib) FT_Done_FreeType(lib);
    return s;
}
