/* Glyphs: characters rendered from installed CJK / Hangul fonts with FreeType; a character is a
 * class, its renderings by different faces are the instances (the many-class, few-instance
 * regime of Stanford Online Products). See data.h (GLYPHS) for the definition file and cache. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/glyphs_impl.h"
#include "metrix/io.h"

/* The built-in definition: Debian 12 packages (scripts/setup.sh --glyphs). One face per design
 * and weight: the regional / proportional / monospaced variants of a family share their glyphs
 * and would only add near-duplicate instances. */
static const char DEFAULT_DEF[] =
    "size 16\nbox 14\nmin_faces 18\ntest_fraction 0.15\nsplit_seed 12\n"
    "range 4E00 9FFF\n"                                               /* CJK Unified Ideographs */
    "range AC00 D7A3\n"                                               /* Hangul Syllables */
    "font /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc 2\n" /* fonts-noto-cjk, SC */
    "font /usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc 2\n"
    "font /usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc 2\n"
    "font /usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc 2\n"
    "font /usr/share/fonts/truetype/arphic/ukai.ttc 0\n"                /* fonts-arphic-ukai */
    "font /usr/share/fonts/truetype/arphic/uming.ttc 0\n"               /* fonts-arphic-uming */
    "font /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc 0\n"             /* fonts-wqy-zenhei */
    "font /usr/share/fonts/truetype/wqy/wqy-microhei.ttc 0\n"           /* fonts-wqy-microhei */
    "font /usr/share/fonts/opentype/ipafont-gothic/ipag.ttf 0\n"        /* fonts-ipafont-gothic */
    "font /usr/share/fonts/opentype/ipafont-mincho/ipam.ttf 0\n"        /* fonts-ipafont-mincho */
    "font /usr/share/fonts/truetype/vlgothic/VL-Gothic-Regular.ttf 0\n" /* fonts-vlgothic */
    "font /usr/share/fonts/truetype/unfonts-core/UnBatang.ttf 0\n"      /* fonts-unfonts-core */
    "font /usr/share/fonts/truetype/unfonts-core/UnDotum.ttf 0\n"
    "font /usr/share/fonts/truetype/unfonts-core/UnGraphic.ttf 0\n"
    "font /usr/share/fonts/truetype/unfonts-core/UnGungseo.ttf 0\n"
    "font /usr/share/fonts/truetype/unfonts-core/UnPilgi.ttf 0\n"
    "font /usr/share/fonts/truetype/unfonts-core/UnDinaru.ttf 0\n"
    "font /usr/share/fonts/truetype/nanum/NanumGothic.ttf 0\n" /* fonts-nanum */
    "font /usr/share/fonts/truetype/nanum/NanumMyeongjo.ttf 0\n"
    "font /usr/share/fonts/truetype/nanum/NanumBarunGothic.ttf 0\n"
    "font /usr/share/fonts/truetype/nanum/NanumSquareR.ttf 0\n"
    "font /usr/share/fonts/truetype/baekmuk/batang.ttf 0\n" /* fonts-baekmuk */
    "font /usr/share/fonts/truetype/baekmuk/dotum.ttf 0\n"
    "font /usr/share/fonts/truetype/baekmuk/gulim.ttf 0\n"
    "font /usr/share/fonts/truetype/baekmuk/hline.ttf 0\n";

/* ---- the definition ---------------------------------------------------------------------- */

static mx_status parse_def(char *text, const char *src, gdef *d) {
    memset(d, 0, sizeof(*d));
    snprintf(d->src, sizeof d->src, "%s", src);
    d->size = 32, d->box = 28, d->min_faces = 8, d->test_fraction = 0.5, d->split_seed = 12;
    int lineno = 0;
    for (char *save = NULL, *ln = strtok_r(text, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        lineno++; /* blank lines are skipped by strtok_r: numbers count non-empty lines */
        char *hash = strchr(ln, '#');
        if (hash) *hash = '\0';
        char *tok[4];
        int nt = mx_ds_tokens(ln, tok, 3);
        if (nt == 0) continue;
#define DEF_ERR(what)                                                                              \
    mx_error(MX_ERR_FORMAT, "%s: entry %d ('%s'): expected %s", src, lineno, tok[0], what)
        char *end = NULL;
        if (!strcmp(tok[0], "font")) {
            if (nt < 2 || nt > 3) return DEF_ERR("'font PATH [FACE_INDEX]'");
            if (d->n_faces == G_MAX_FACES) return DEF_ERR("at most 255 faces");
            gface *f = &d->face[d->n_faces++];
            if (strlen(tok[1]) >= sizeof f->path) return DEF_ERR("a path shorter than 1024");
            snprintf(f->path, sizeof f->path, "%s", tok[1]);
            f->index = nt == 3 ? (int)strtol(tok[2], &end, 10) : 0;
            if (nt == 3 && (*end || f->index < 0 || f->index > 1000))
                return DEF_ERR("a face index 0..1000");
        } else if (!strcmp(tok[0], "range")) {
            if (nt != 3 || d->n_ranges == G_MAX_RANGES)
                return DEF_ERR("'range LO HI' (hex, <= 32 ranges)");
            unsigned long lo = strtoul(tok[1], &end, 16);
            if (*end) return DEF_ERR("hexadecimal code points");
            unsigned long hi = strtoul(tok[2], &end, 16);
            if (*end || lo > hi || hi > 0x10FFFF)
                return DEF_ERR("hexadecimal code points LO <= HI <= 10FFFF");
            if (d->n_ranges > 0 && lo <= d->hi[d->n_ranges - 1])
                return DEF_ERR("ranges in ascending order, not overlapping");
            d->lo[d->n_ranges] = (uint32_t)lo;
            d->hi[d->n_ranges++] = (uint32_t)hi;
        } else if (nt == 2 && !strcmp(tok[0], "test_fraction")) {
            d->test_fraction = strtod(tok[1], &end);
            if (*end || !(d->test_fraction > 0 && d->test_fraction < 1))
                return DEF_ERR("a number in (0, 1)");
        } else if (nt == 2 && !strcmp(tok[0], "split_seed")) {
            d->split_seed = strtoull(tok[1], &end, 10);
            if (*end || tok[1][0] == '-') return DEF_ERR("a non-negative integer");
        } else if (nt == 2 && (!strcmp(tok[0], "size") || !strcmp(tok[0], "box") ||
                               !strcmp(tok[0], "min_faces"))) {
            long v = strtol(tok[1], &end, 10);
            if (*end || v < 1 || v > 512) return DEF_ERR("an integer 1..512");
            *(tok[0][0] == 's' ? &d->size : tok[0][0] == 'b' ? &d->box : &d->min_faces) = (int)v;
        } else {
            return mx_error(MX_ERR_FORMAT,
                            "%s: entry %d: unknown '%s' (expected size, box, min_faces, "
                            "test_fraction, split_seed, range or font)",
                            src, lineno, tok[0]);
        }
#undef DEF_ERR
    }
    if (d->n_faces == 0 || d->n_ranges == 0)
        return mx_error(MX_ERR_FORMAT, "%s: needs at least one 'font' and one 'range' line", src);
    if (d->box > d->size)
        return mx_error(MX_ERR_FORMAT, "%s: box %d larger than size %d", src, d->box, d->size);
    if (d->min_faces > d->n_faces)
        return mx_error(MX_ERR_FORMAT, "%s: min_faces %d but only %d faces", src, d->min_faces,
                        d->n_faces);
    return MX_OK;
}

/* Reads root/glyphs.conf (or the built-in definition) and every font file's identity. */
static mx_status load_def(const char *root, gdef *d) {
    char *path = mx_ds_path_join(root, "glyphs.conf");
    if (!path) return mx_error(MX_ERR_NOMEM, "glyphs: out of memory");
    struct stat st;
    mx_status s;
    if (stat(path, &st) == 0) {
        uint8_t *buf = NULL;
        size_t n = 0;
        s = mx_read_file(path, &buf, &n);
        if (s == MX_OK) s = parse_def((char *)buf, path, d);
        free(buf);
    } else {
        char *text = malloc(sizeof DEFAULT_DEF);
        s = text ? parse_def(memcpy(text, DEFAULT_DEF, sizeof DEFAULT_DEF),
                             "built-in glyphs definition", d)
                 : mx_error(MX_ERR_NOMEM, "glyphs: out of memory");
        free(text);
    }
    free(path);
    for (int i = 0; s == MX_OK && i < d->n_faces; i++) {
        gface *f = &d->face[i];
        if (stat(f->path, &st) != 0)
            return mx_error(MX_ERR_IO,
                            "glyphs: font %s (face %d of %s): %s; install the glyph fonts "
                            "(bash scripts/setup.sh --glyphs) or list the faces you have in "
                            "%s/glyphs.conf",
                            f->path, i, d->src, strerror(errno), root);
        f->fsize = (int64_t)st.st_size;
        f->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    }
    return s;
}

/* FNV-1a 64 */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}
#define FNV0 0xcbf29ce484222325ull

/* The cache key: render version, definition values and font identities. */
static uint64_t def_key(const gdef *d) {
    char buf[256];
    int n = snprintf(buf, sizeof buf, "mxglyphs %d size %d box %d min %d test %.9g seed %llu",
                     G_RENDER_VERSION, d->size, d->box, d->min_faces, d->test_fraction,
                     (unsigned long long)d->split_seed);
    uint64_t h = fnv(FNV0, buf, (size_t)n);
    for (int i = 0; i < d->n_ranges; i++) {
        n = snprintf(buf, sizeof buf, " range %x %x", d->lo[i], d->hi[i]);
        h = fnv(h, buf, (size_t)n);
    }
    for (int i = 0; i < d->n_faces; i++) {
        h = fnv(h, d->face[i].path, strlen(d->face[i].path) + 1);
        n = snprintf(buf, sizeof buf, " %d %lld %lld", d->face[i].index,
                     (long long)d->face[i].fsize, (long long)d->face[i].mtime_ns);
        h = fnv(h, buf, (size_t)n);
    }
    return h;
}

/* ---- the cache ----------------------------------------------------------------------------
 * root/glyphs-<key>.bin: "MXGLYPH1", u64 key, u32 size, n_faces, n_classes, 0, u64 n, then
 * u32 cp[n], u16 face[n], u8 pixels[n][size][size], and u64 FNV-1a of all the bytes before it
 * (native byte order: a cache is a local file). */

static const char MAGIC[8] = {'M', 'X', 'G', 'L', 'Y', 'P', 'H', '1'};

static mx_status cache_write(const char *path, const gdef *d, uint64_t key, const gset *g,
                             int64_t n_classes) {
    mx_atomic_file *af;
    FILE *f;
    MX_TRY(mx_atomic_open(path, &af, &f));
    uint32_t hdr[4] = {(uint32_t)d->size, (uint32_t)d->n_faces, (uint32_t)n_classes, 0};
    uint64_t n = (uint64_t)g->n, h = FNV0;
    const size_t sz = (size_t)d->size * d->size;
    struct {
        const void *p;
        size_t n;
    } part[] = {{MAGIC, 8},
                {&key, 8},
                {hdr, sizeof hdr},
                {&n, 8},
                {g->cp, (size_t)g->n * 4},
                {g->face, (size_t)g->n * 2},
                {g->px, (size_t)g->n * sz}};
    int bad = 0;
    for (size_t i = 0; i < sizeof part / sizeof part[0]; i++) {
        if (part[i].n && fwrite(part[i].p, 1, part[i].n, f) != part[i].n) bad = 1;
        if (part[i].n) h = fnv(h, part[i].p, part[i].n);
    }
    if (fwrite(&h, 8, 1, f) != 1) bad = 1;
    if (bad) {
        mx_atomic_abort(af);
        return mx_error(MX_ERR_IO, "%s: cannot write the glyph cache", path);
    }
    return mx_atomic_commit(af);
}

/* Reads the cache at path into g when it is complete and matches key and d; returns 0 (g empty)
 * when it is absent or does not match, so that the caller renders again. */
static int cache_read(const char *path, const gdef *d, uint64_t key, gset *g, int64_t *n_classes) {
    uint8_t *buf = NULL;
    size_t len = 0;
    struct stat st;
    if (stat(path, &st) != 0 || mx_read_file(path, &buf, &len) != MX_OK) return 0;
    const size_t sz = (size_t)d->size * d->size, head = 8 + 8 + 16 + 8;
    int good = len >= head + 8 && !memcmp(buf, MAGIC, 8);
    uint64_t k = 0, n = 0, h = 0;
    uint32_t hdr[4] = {0, 0, 0, 0};
    if (good) {
        memcpy(&k, buf + 8, 8);
        memcpy(hdr, buf + 16, 16);
        memcpy(&n, buf + 32, 8);
        good = k == key && hdr[0] == (uint32_t)d->size && hdr[1] == (uint32_t)d->n_faces &&
               n < ((uint64_t)1 << 40) / (sz + 6) && len == head + n * (6 + sz) + 8;
    }
    if (good) {
        memcpy(&h, buf + len - 8, 8);
        good = h == fnv(FNV0, buf, len - 8);
    }
    if (good) {
        g->n = g->cap = (int64_t)n;
        g->cp = malloc((size_t)MX_MAX(n, 1) * 4);
        g->face = malloc((size_t)MX_MAX(n, 1) * 2);
        g->px = malloc((size_t)MX_MAX(n, 1) * sz);
        good = g->cp && g->face && g->px;
    }
    if (good) {
        memcpy(g->cp, buf + head, n * 4);
        memcpy(g->face, buf + head + n * 4, n * 2);
        memcpy(g->px, buf + head + n * 6, n * sz);
        *n_classes = hdr[2];
        for (uint64_t i = 0; good && i < n; i++) good = g->face[i] < d->n_faces;
    }
    free(buf);
    if (!good) mx_glyphs_gset_free(g);
    return good;
}

/* ---- split and manifest ------------------------------------------------------------------ */

/* The distinct code points of g (sorted: g is in (cp, face) order) and test[c] = 1 for the
 * test classes: a shuffle by split_seed, the first round(test_fraction * C) go to test. */
static mx_status split_classes(const gdef *d, const gset *g, uint32_t **cls, uint8_t **test,
                               int64_t *nc) {
    *cls = malloc((size_t)MX_MAX(g->n, 1) * 4);
    int64_t *perm = malloc((size_t)MX_MAX(g->n, 1) * sizeof(int64_t));
    int64_t c = 0;
    if (!*cls || !perm) {
        free(perm);
        return mx_error(MX_ERR_NOMEM, "glyphs: out of memory");
    }
    for (int64_t i = 0; i < g->n; i++)
        if (i == 0 || g->cp[i] != g->cp[i - 1]) (*cls)[c++] = g->cp[i];
    *test = calloc((size_t)MX_MAX(c, 1), 1);
    if (!*test) {
        free(perm);
        return mx_error(MX_ERR_NOMEM, "glyphs: out of memory");
    }
    for (int64_t i = 0; i < c; i++) perm[i] = i;
    mx_rng r;
    mx_rng_seed(&r, d->split_seed);
    mx_rng_shuffle_i64(&r, perm, (size_t)c);
    int64_t nt = (int64_t)floor(d->test_fraction * (double)c + 0.5);
    for (int64_t i = 0; i < nt; i++) (*test)[perm[i]] = 1;
    free(perm);
    *nc = c;
    return MX_OK;
}

static void put_utf8(FILE *f, uint32_t c) {
    if (c < 0x80)
        fputc((int)c, f);
    else if (c < 0x800)
        fprintf(f, "%c%c", 0xC0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000)
        fprintf(f, "%c%c%c", 0xE0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else
        fprintf(f, "%c%c%c%c", 0xF0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63),
                0x80 | (c & 63));
}

/* root/glyphs-<key>.txt: the faces with their counts, then one line per class: code point,
 * character, split (train / test), number of faces. */
static mx_status manifest_write(const char *path, const gdef *d, const gset *g,
                                const mx_glyphs_info *info) {
    uint32_t *cls = NULL;
    uint8_t *test = NULL;
    int64_t nc = 0;
    mx_status s = split_classes(d, g, &cls, &test, &nc);
    mx_atomic_file *af = NULL;
    FILE *f = NULL;
    if (s == MX_OK) s = mx_atomic_open(path, &af, &f);
    if (s == MX_OK) {
        fprintf(f,
                "# metrix glyphs dataset (%s): %ld classes in >= %d of %d faces, %ld renderings "
                "of %dx%d, split seed %llu (train/val carving: the run's val_fraction and seed)\n",
                d->src, (long)nc, d->min_faces, d->n_faces, (long)g->n, d->size, d->size,
                (unsigned long long)d->split_seed);
        fprintf(f, "# face\tpath\tindex\tname\tvalid\tmissing\tempty\tnotdef\tshared\n");
        for (int k = 0; k < d->n_faces; k++) {
            const mx_glyphs_face_info *c = &info->face[k];
            fprintf(f, "# %d\t%s\t%d\t%s\t%ld\t%ld\t%ld\t%ld\t%ld\n", k, d->face[k].path,
                    d->face[k].index, c->name, (long)c->valid, (long)c->missing, (long)c->empty,
                    (long)c->notdef, (long)c->shared);
        }
        fprintf(f, "codepoint\tchar\tsplit\tfaces\n");
        int64_t i = 0;
        for (int64_t c = 0; c < nc; c++) {
            int64_t nf = 0;
            while (i < g->n && g->cp[i] == cls[c]) i++, nf++;
            fprintf(f, "U+%04X\t", cls[c]);
            put_utf8(f, cls[c]);
            fprintf(f, "\t%s\t%ld\n", test[c] ? "test" : "train", (long)nf);
        }
        s = ferror(f) ? (mx_atomic_abort(af), mx_error(MX_ERR_IO, "%s: write error", path))
                      : mx_atomic_commit(af);
    }
    free(cls);
    free(test);
    return s;
}

/* ---- entry points ------------------------------------------------------------------------ */

const char *mx_ds_glyphs_default_root(char *buf, size_t cap) {
    const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (x && x[0] == '/')
        snprintf(buf, cap, "%s/metrix/glyphs", x);
    else
        snprintf(buf, cap, "%s/.cache/metrix/glyphs", home && home[0] ? home : "/tmp");
    return buf;
}

static mx_status mkdirs(const char *path) {
    char p[4096];
    if (strlen(path) >= sizeof p) return mx_error(MX_ERR_ARG, "%s: path too long", path);
    snprintf(p, sizeof p, "%s", path);
    for (char *q = p + 1;; q++) {
        if (*q != '/' && *q) continue;
        char keep = *q;
        *q = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            return mx_error(MX_ERR_IO, "%s: cannot create the glyph cache folder: %s", p,
                            strerror(errno));
        if (!keep) break;
        *q = keep;
    }
    return MX_OK;
}

/* Loads (or renders and caches) the set of root's definition into g. */
static mx_status glyphs_load(const char *root, gdef *d, gset *g, mx_glyphs_info *info) {
    memset(info, 0, sizeof(*info));
    MX_TRY(mkdirs(root));
    MX_TRY(load_def(root, d));
    uint64_t key = def_key(d);
    char name[64];
    snprintf(name, sizeof name, "glyphs-%016llx.bin", (unsigned long long)key);
    char *path = mx_ds_path_join(root, name);
    if (!path) return mx_error(MX_ERR_NOMEM, "glyphs: out of memory");
    snprintf(info->cache_path, sizeof info->cache_path, "%s", path);
    info->n_faces = d->n_faces;
    mx_status s = MX_OK;
    if (!cache_read(path, d, key, g, &info->n_classes)) {
        info->rendered = 1;
        s = mx_glyphs_render_all(d, g, info);
        if (s == MX_OK) s = cache_write(path, d, key, g, info->n_classes);
        if (s == MX_OK) {
            snprintf(name, sizeof name, "glyphs-%016llx.txt", (unsigned long long)key);
            char *mp = mx_ds_path_join(root, name);
            s = mp ? manifest_write(mp, d, g, info)
                   : mx_error(MX_ERR_NOMEM, "glyphs: out of memory");
            free(mp);
        }
    }
    free(path);
    info->n_records = g->n;
    for (int64_t i = 0; i < g->n; i++) info->face[g->face[i]].in_classes++;
    if (s != MX_OK) mx_glyphs_gset_free(g);
    return s;
}

/* The prelude of both entry points: root's set into g (its definition d, info) and its classes
 * split: cls[nc] code points, test[c] = 1 for a test class (the caller frees cls, test, g). */
static mx_status load_split(const char *root, gdef *d, gset *g, mx_glyphs_info *info,
                            uint32_t **cls, uint8_t **test, int64_t *nc) {
    memset(g, 0, sizeof *g);
    *cls = NULL, *test = NULL, *nc = 0;
    mx_status s = glyphs_load(root, d, g, info);
    return s == MX_OK ? split_classes(d, g, cls, test, nc) : s;
}

mx_status mx_ds_glyphs_prepare(const char *root, mx_glyphs_info *info) {
    gdef *d = malloc(sizeof *d);
    if (!d) return mx_error(MX_ERR_NOMEM, "glyphs: out of memory");
    gset g;
    uint32_t *cls;
    uint8_t *test;
    int64_t nc;
    mx_status s = load_split(root, d, &g, info, &cls, &test, &nc);
    for (int64_t c = 0; s == MX_OK && c < nc; c++) info->n_test_classes += test[c];
    info->n_train_classes = nc - info->n_test_classes;
    free(cls);
    free(test);
    mx_glyphs_gset_free(&g);
    free(d);
    return s;
}

mx_status mx_ds_read_glyphs(const char *root, int train, mx_ds_raw *r) {
    gdef *d = malloc(sizeof *d);
    mx_glyphs_info *info = malloc(sizeof *info);
    if (!d || !info) {
        free(d);
        free(info);
        return mx_error(MX_ERR_NOMEM, "glyphs: out of memory");
    }
    gset g;
    uint32_t *cls;
    uint8_t *test;
    int64_t nc;
    mx_status s = load_split(root, d, &g, info, &cls, &test, &nc);
    const size_t sz = (size_t)d->size * d->size;
    int64_t n = 0;
    for (int64_t i = 0, c = 0; s == MX_OK && i < g.n; i++) {
        while (cls[c] != g.cp[i]) c++;
        if (test[c] != !train) continue;
        /* compact in place: record n <- record i */
        g.cp[n] = g.cp[i];
        if (n != i) memcpy(g.px + (size_t)n * sz, g.px + (size_t)i * sz, sz);
        n++;
    }
    if (s == MX_OK) {
        r->n = r->cap = n;
        r->cls = malloc((size_t)MX_MAX(n, 1) * sizeof(int64_t));
        r->tag = calloc((size_t)MX_MAX(n, 1), 1);
        if (!r->cls || !r->tag) s = mx_error(MX_ERR_NOMEM, "glyphs: out of memory");
        for (int64_t i = 0; s == MX_OK && i < n; i++) r->cls[i] = g.cp[i];
        r->pixels = g.px;
        g.px = NULL;
        r->ih = r->iw = d->size;
    }
    free(cls);
    free(test);
    mx_glyphs_gset_free(&g);
    free(d);
    free(info);
    return s;
}
