/* Training configuration: defaults, presets, flags, JSON files, validation, errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrix/train.h"
#include "mx_test.h"

static const char *tmp_path(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", MX_BINARY_DIR, name);
    return buf;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

int main(void) {
    mx_train_config c = mx_train_config_default();
    CHECK(!strcmp(c.dataset, "fashion-mnist") && !strcmp(c.backbone, "smallcnn"));
    CHECK(c.embed_dim == 128 && !strcmp(c.loss, "ms") && !strcmp(c.mix, "feature"));
    CHECK_OK(mx_train_config_validate(&c));

    /* flags */
    CHECK_OK(mx_train_config_set(&c, "lr", "3e-4"));
    CHECK_CLOSE(c.lr, 3e-4, 1e-9, 0);
    CHECK(mx_train_config_set(&c, "lr", "fast") == MX_ERR_CONFIG);
    CHECK(strstr(mx_errmsg(), "lr") != NULL);
    CHECK(mx_train_config_set(&c, "loss", "arcface") == MX_ERR_CONFIG);
    CHECK(strstr(mx_errmsg(), "proxy-anchor") != NULL); /* lists the expected values */
    CHECK(mx_train_config_set(&c, "no_such_key", "1") == MX_ERR_CONFIG);
    CHECK(strstr(mx_errmsg(), "no_such_key") != NULL);
    CHECK(mx_train_config_set(&c, "epochs", "0") == MX_ERR_CONFIG);
    CHECK(mx_train_config_set(&c, "epochs", "12x") == MX_ERR_CONFIG);
    CHECK(mx_train_config_set(&c, "seed", "-1") == MX_ERR_CONFIG);
    CHECK_OK(mx_train_config_set(&c, "seed", "9223372036854775807")); /* INT64_MAX: JSON-exact */
    CHECK(c.seed == 9223372036854775807ull);
    CHECK(mx_train_config_set(&c, "seed", "9223372036854775808") == MX_ERR_CONFIG);
    CHECK(mx_train_config_set(&c, "seed", "99999999999999999999") == MX_ERR_CONFIG);
    CHECK(strstr(mx_errmsg(), "seed") && strstr(mx_errmsg(), "[0, 9223372036854775807]"));
    CHECK_OK(mx_train_config_set(&c, "bn_freeze", "true"));
    CHECK(c.bn_freeze == 1);
    CHECK(mx_train_config_set(&c, "bn_freeze", "maybe") == MX_ERR_CONFIG);
    CHECK(mx_train_config_set(&c, "ms_margin", "nan") == MX_ERR_CONFIG);

    /* every preset applies and validates */
    const char *names[] = {"fashion-mnist",   "cub-ms",          "cub-ms-metrix",
                           "cub-contrastive", "cub-pa-metrix",   "cars-ms-metrix",
                           "sop-ms",          "sop-contrastive", "inshop-ms-metrix",
                           "glyphs",          "glyphs-pa-metrix"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        mx_train_config p = mx_train_config_default();
        CHECK_OK(mx_train_config_preset(&p, names[i]));
        CHECK_OK(mx_train_config_validate(&p));
    }
    /* every preset X-metrix has its baseline X: same keys except the mixing ones */
    int n_metrix = 0;
    for (int i = 0; mx_train_config_preset_name(i); i++) {
        const char *name = mx_train_config_preset_name(i);
        mx_train_config m = mx_train_config_default(), b = mx_train_config_default();
        CHECK_OK(mx_train_config_preset(&m, name));
        CHECK_OK(mx_train_config_validate(&m));
        size_t len = strlen(name);
        if (len < 8 || strcmp(name + len - 7, "-metrix")) continue;
        n_metrix++;
        char base[128];
        snprintf(base, sizeof base, "%.*s", (int)(len - 7), name);
        if (mx_train_config_preset(&b, base) != MX_OK) {
            fprintf(stderr, "preset %s has no baseline %s\n", name, base);
            CHECK(!"baseline preset");
            continue;
        }
        CHECK(!strcmp(b.mix, "none") && strcmp(m.mix, "none"));
        /* the mixing keys of m set on b make the two configurations identical */
        static const char *mix_keys[] = {"mix",   "mix_stage", "mix_pairs",  "mix_negatives",
                                         "mix_k", "mix_alpha", "mix_weight", "mix_lambda_per_pair"};
        char *jm = NULL, *jb = NULL;
        size_t nm = 0, nb = 0;
        FILE *f = open_memstream(&jm, &nm);
        mx_train_config_write_json(&m, f);
        fclose(f);
        for (size_t k = 0; k < sizeof mix_keys / sizeof mix_keys[0]; k++) {
            /* the value of key in m's JSON, written back through mx_train_config_set */
            char pat[64];
            snprintf(pat, sizeof pat, "\"%s\": ", mix_keys[k]);
            const char *v = strstr(jm, pat);
            CHECK(v != NULL);
            if (!v) continue;
            v += strlen(pat);
            char val[256];
            size_t n = strcspn(v, ",\n");
            snprintf(val, sizeof val, "%.*s", (int)n, v);
            if (val[0] == '"') memmove(val, val + 1, strlen(val)), val[strlen(val) - 1] = 0;
            CHECK_OK(mx_train_config_set(&b, mix_keys[k], val));
        }
        f = open_memstream(&jb, &nb);
        mx_train_config_write_json(&b, f);
        fclose(f);
        if (strcmp(jm, jb)) {
            fprintf(stderr, "presets %s and %s differ in more than the mixing keys\n", name, base);
            CHECK(!"baseline differs beyond mixing");
        }
        free(jm);
        free(jb);
    }
    CHECK(n_metrix >= 9); /* cub, cars, sop, inshop x losses */
    mx_train_config p = mx_train_config_default();
    CHECK_OK(mx_train_config_preset(&p, "cub-ms-metrix"));
    CHECK(!strcmp(p.backbone, "resnet50") && p.embed_dim == 512 && p.batch == 100);
    CHECK(p.bn_freeze && p.warmup_epochs == 5 && p.epochs == 100 && !strcmp(p.mix, "feature"));
    CHECK(mx_train_config_preset(&p, "imagenet") == MX_ERR_CONFIG);
    CHECK(strstr(mx_errmsg(), "cub-ms-metrix") != NULL);

    /* cross-field validation */
    mx_train_config v = mx_train_config_default();
    strcpy(v.sampler, "m-per-class");
    v.batch = 100, v.samples_per_class = 8;
    CHECK(mx_train_config_validate(&v) == MX_ERR_CONFIG);
    /* list: train_list alone is split in class-disjoint halves; test_list alone is an error */
    v = mx_train_config_default();
    strcpy(v.dataset, "list"), strcpy(v.backbone, "resnet18");
    strcpy(v.test_list, "t.txt");
    CHECK(mx_train_config_validate(&v) == MX_ERR_CONFIG);
    CHECK(strstr(mx_errmsg(), "train_list") != NULL);
    strcpy(v.train_list, "a.txt"), v.test_list[0] = 0;
    CHECK_OK(mx_train_config_validate(&v));
    /* the Recall@K table */
    mx_eval_config ek = mx_train_eval_config("inshop");
    CHECK(ek.n_k == 6 && ek.k[0] == 1 && ek.k[1] == 10 && ek.k[5] == 50);
    ek = mx_train_eval_config("sop");
    CHECK(ek.n_k == 4 && ek.k[3] == 1000);
    ek = mx_train_eval_config("cub");
    CHECK(ek.n_k == 4 && ek.k[3] == 8);
    char table[160];
    size_t tl = mx_train_recall_ks_help(table, sizeof table);
    CHECK(tl == strlen(table) && strstr(table, "In-Shop 1,10,20,30,40,50") != NULL);
    CHECK(strstr(table, "SOP 1,10,100,1000") != NULL && strstr(table, "others 1,2,4,8") != NULL);
    char tiny[6];
    CHECK(mx_train_recall_ks_help(tiny, sizeof tiny) == tl && strlen(tiny) == 5);
    v = mx_train_config_default();
    strcpy(v.backbone, "resnet50");
    CHECK(mx_train_config_validate(&v) == MX_ERR_CONFIG);

    /* JSON files: round trip of the resolved config, unknown keys and bad values */
    mx_train_config a = mx_train_config_default();
    a.epochs = 3, a.lr = 2e-4f, a.seed = 99;
    strcpy(a.mix, "embed");
    FILE *f = fopen(tmp_path("cfg_roundtrip.json"), "wb");
    mx_train_config_write_json(&a, f);
    fclose(f);
    mx_train_config b = mx_train_config_default();
    CHECK_OK(mx_train_config_load(&b, tmp_path("cfg_roundtrip.json")));
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    write_file(tmp_path("cfg_unknown.json"), "{\"epochs\": 3, \"epoch\": 4}");
    CHECK(mx_train_config_load(&b, tmp_path("cfg_unknown.json")) == MX_ERR_CONFIG);
    CHECK(strstr(mx_errmsg(), "cfg_unknown.json") && strstr(mx_errmsg(), "'epoch'"));
    write_file(tmp_path("cfg_bad.json"), "{\"epochs\": 3,");
    CHECK(mx_train_config_load(&b, tmp_path("cfg_bad.json")) == MX_ERR_FORMAT);
    CHECK(strstr(mx_errmsg(), "cfg_bad.json: empty or truncated JSON"));
    write_file(tmp_path("cfg_empty.json"), "");
    CHECK(mx_train_config_load(&b, tmp_path("cfg_empty.json")) == MX_ERR_FORMAT);
    CHECK(strstr(mx_errmsg(), "cfg_empty.json: empty or truncated JSON"));
    CHECK(!strstr(mx_errmsg(), "continue"));
    write_file(tmp_path("cfg_blank.json"), " \n\n");
    CHECK(mx_train_config_load(&b, tmp_path("cfg_blank.json")) == MX_ERR_FORMAT);
    CHECK(strstr(mx_errmsg(), "cfg_blank.json: empty or truncated JSON"));
    write_file(tmp_path("cfg_syntax.json"), "{\n  \"epochs\": 3,\n  \"lr\": 1e-3x\n}\n");
    CHECK(mx_train_config_load(&b, tmp_path("cfg_syntax.json")) == MX_ERR_FORMAT);
    CHECK(strstr(mx_errmsg(), "cfg_syntax.json: line 3, column"));
    write_file(tmp_path("cfg_trailing.json"), "{\"epochs\": 3}\n}");
    CHECK(mx_train_config_load(&b, tmp_path("cfg_trailing.json")) == MX_ERR_FORMAT);
    CHECK(strstr(mx_errmsg(), "cfg_trailing.json: line 2, column 1"));
    /* seeds: json-c saturates integers; anything above INT64_MAX is refused, not clamped */
    write_file(tmp_path("cfg_seed_max.json"), "{\"seed\": 9223372036854775807}");
    CHECK_OK(mx_train_config_load(&b, tmp_path("cfg_seed_max.json")));
    CHECK(b.seed == 9223372036854775807ull);
    const char *big[] = {"9223372036854775808", "18446744073709551615", "99999999999999999999"};
    for (int i = 0; i < 3; i++) {
        char text[96];
        snprintf(text, sizeof text, "{\"seed\": %s}", big[i]);
        write_file(tmp_path("cfg_seed_big.json"), text);
        CHECK(mx_train_config_load(&b, tmp_path("cfg_seed_big.json")) == MX_ERR_CONFIG);
        CHECK(strstr(mx_errmsg(), "seed") && strstr(mx_errmsg(), "[0, 9223372036854775807]"));
    }
    write_file(tmp_path("cfg_type.json"), "{\"loss\": [1, 2]}");
    CHECK(mx_train_config_load(&b, tmp_path("cfg_type.json")) == MX_ERR_CONFIG);
    CHECK(mx_train_config_load(&b, tmp_path("does_not_exist.json")) == MX_ERR_IO);
    return mx_test_finish("test_train_config");
}
