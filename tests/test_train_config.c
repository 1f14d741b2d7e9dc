/* Training configuration: defaults, presets, flags, JSON files, validation, errors. */
#include <stdio.h>
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
    const char *names[] = {"fashion-mnist", "cub-ms", "cub-ms-metrix", "cub-contrastive",
                           "cub-pa-metrix", "cars-ms-metrix", "sop-ms", "sop-contrastive",
                           "inshop-ms-metrix"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        mx_train_config p = mx_train_config_default();
        CHECK_OK(mx_train_config_preset(&p, names[i]));
        CHECK_OK(mx_train_config_validate(&p));
    }
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
