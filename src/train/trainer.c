/* The trainer: the only place that knows the whole sequence of a Metrix training step.
 *
 *   loader -> images (B x C x H x W), labels (B)
 *   nn forward input -> mixing stage (slot 0) -> embedding          clean embeddings e (B x d)
 *   mix: choose pairs (i, j, lambda, anchor), mix inputs / feature maps / embeddings
 *   nn forward of the rest for the mixed examples (slot 1)          mixed embeddings v (M x d)
 *   loss: clean + w * mixed, gradients d_e, d_v (and d_proxies)
 *   backward in reverse (mixed path scatters into the clean feature gradient), optimizer step
 *
 * Epoch ends: evaluation (validation / test split), log.csv row, plots, checkpoint_last (and
 * checkpoint_best). Everything the step touches is allocated in mx_trainer_create. */
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/core_impl.h"
#include "metrix/data.h"
#include "metrix/eval.h"
#include "metrix/gemm.h"
#include "metrix/io.h"
#include "metrix/loss.h"
#include "metrix/mix.h"
#include "metrix/nn.h"
#include "metrix/optim.h"
#include "metrix/plot.h"
#include "metrix/train.h"

#define MX_UTIL_MIXED_CAP 20000 /* mixed embeddings kept from the last epoch for utilization */

typedef enum { MIX_NONE, MIX_INPUT, MIX_FEATURE, MIX_EMBED } mix_level;

struct mx_trainer {
    mx_train_config cfg;
    char dir[1024];

    /* data */
    mx_dataset *ds_train, *ds_val, *ds_test, *ds_query, *ds_gallery;
    mx_sampler *sampler;
    mx_loader *loader;
    mx_transform_config tf_train, tf_test;
    int channels, size;
    int64_t img_floats; /* C * H * W */
    int n_classes;      /* training classes */

    /* network, loss, optimizer */
    mx_model *model;
    int d;
    mix_level level;
    int stage;         /* mixing stage (feature level) */
    int64_t feat_size; /* floats per example at `stage` */
    mx_loss *loss;
    int proxy_loss;
    float *proxies, *d_proxies; /* C x d */
    mx_optim *opt;
    int g_trunk, g_head, g_proxy;
    mx_lr_schedule sched;
    mx_mix_config mix_cfg;
    mx_mixer *mixer;
    int64_t max_mixed;
    float *sim; /* B x B clean cosine similarities (hardest-negative selection) */

    /* step buffers (allocated once) */
    int B;
    float *images;      /* B x C x H x W */
    int64_t *labels;    /* B */
    float *emb, *d_emb; /* B x d */
    float *feat, *d_feat; /* B x feat_size (feature level) */
    float *mixed_in;      /* M x (img_floats | feat_size): mixed inputs or feature maps */
    float *d_mixed_in;    /* M x feat_size (feature level) */
    float *emb_mixed, *d_emb_mixed; /* M x d */
    mx_mix_pair *pairs;             /* M */
    float *util_mixed;              /* MX_UTIL_MIXED_CAP x d */
    int64_t n_util_mixed;

    /* state (checkpointed) */
    mx_rng rng_mix;
    int64_t epoch;        /* completed epochs */
    int64_t step_in_epoch; /* completed steps of the current (interrupted) epoch */
    double acc_loss, acc_clean, acc_mixed; /* sums over the current epoch */
    double best_metric;
    int64_t best_epoch;
    double *hist_loss, *hist_val_r1, *hist_test_r1; /* per epoch (cfg.epochs) */

    char report_text[8192];
};

/* ---- small helpers ----------------------------------------------------------------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void say(const mx_train_callbacks *cb, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void say(const mx_train_callbacks *cb, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (cb && cb->message) cb->message(cb->user, buf);
    else mx_log(MX_LOG_INFO, "%s", buf);
}

static void path_in(const mx_trainer *t, const char *name, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s", t->dir, name);
}

static mx_status alloc_f(float **p, int64_t n) {
    *p = n > 0 ? mx_calloc((size_t)n, sizeof(float)) : NULL;
    if (n > 0 && !*p) return mx_error(MX_ERR_NOMEM, "trainer: cannot allocate %" PRId64 " floats", n);
    return MX_OK;
}

static mx_dataset_kind dataset_kind(const char *name) {
    if (!strcmp(name, "cub")) return MX_DS_CUB;
    if (!strcmp(name, "cars")) return MX_DS_CARS;
    if (!strcmp(name, "sop")) return MX_DS_SOP;
    if (!strcmp(name, "inshop")) return MX_DS_INSHOP;
    if (!strcmp(name, "folder")) return MX_DS_FOLDER;
    if (!strcmp(name, "list")) return MX_DS_LIST;
    return MX_DS_FMNIST;
}

static mx_status open_split(const mx_trainer *t, mx_split split, mx_dataset **out) {
    const mx_train_config *c = &t->cfg;
    mx_dataset_config dc = mx_dataset_config_default();
    dc.kind = dataset_kind(c->dataset);
    dc.root = c->data_root[0] ? c->data_root : NULL;
    dc.split = split;
    dc.class_lo = dc.class_hi = -1;
    if (dc.kind == MX_DS_LIST) {
        dc.list = c->train_list; /* each list file is used whole for its split */
        dc.test_list = c->test_list;
    }
    if (dc.kind == MX_DS_FMNIST) {
        int test = split == MX_SPLIT_TEST;
        dc.class_lo = test ? c->test_classes_lo : c->train_classes_lo;
        dc.class_hi = test ? c->test_classes_hi : c->train_classes_hi;
    }
    if (split == MX_SPLIT_TRAIN || split == MX_SPLIT_VAL) {
        dc.val_fraction = c->val_fraction;
        dc.val_seed = c->seed;
    }
    return mx_dataset_open(&dc, out);
}

/* ---- setup ------------------------------------------------------------------------------- */

static mx_status setup_data(mx_trainer *t) {
    const mx_train_config *c = &t->cfg;
    int fmnist = dataset_kind(c->dataset) == MX_DS_FMNIST;
    MX_TRY(open_split(t, MX_SPLIT_TRAIN, &t->ds_train));
    if (c->val_fraction > 0) MX_TRY(open_split(t, MX_SPLIT_VAL, &t->ds_val));
    if (dataset_kind(c->dataset) == MX_DS_INSHOP) {
        MX_TRY(open_split(t, MX_SPLIT_QUERY, &t->ds_query));
        MX_TRY(open_split(t, MX_SPLIT_GALLERY, &t->ds_gallery));
    } else {
        MX_TRY(open_split(t, MX_SPLIT_TEST, &t->ds_test));
    }
    t->n_classes = mx_dataset_classes(t->ds_train);

    if (fmnist) {
        t->tf_train = mx_transform_config_fmnist(1);
        t->tf_test = mx_transform_config_fmnist(0);
    } else {
        t->tf_train = mx_transform_config_default(MX_TF_TRAIN_RRC);
        t->tf_test = mx_transform_config_default(MX_TF_TEST_RESIZE_CROP);
        t->tf_train.out_size = t->tf_test.out_size = c->image_size;
        t->tf_test.resize_size = c->resize_size;
    }
    if (!c->augment) t->tf_train = t->tf_test;
    t->channels = t->tf_train.channels;
    t->size = t->tf_train.out_size;
    t->img_floats = (int64_t)t->channels * t->size * t->size;

    mx_sampler_config sc = mx_sampler_config_default();
    sc.kind = !strcmp(c->sampler, "m-per-class") ? MX_SAMPLER_M_PER_CLASS : MX_SAMPLER_RANDOM;
    sc.batch_size = c->batch;
    sc.m = c->samples_per_class;
    sc.seed = c->seed ^ 0x5a3b1e;
    MX_TRY(mx_sampler_create(&sc, mx_dataset_labels(t->ds_train), mx_dataset_size(t->ds_train),
                             t->n_classes, &t->sampler));
    mx_loader_config lc = mx_loader_config_default();
    lc.workers = c->workers;
    lc.seed = c->seed ^ 0xa06e;
    MX_TRY(mx_loader_create(t->ds_train, t->sampler, 0, &t->tf_train, &lc, &t->loader));
    t->B = c->batch;
    return MX_OK;
}

static mx_status setup_model(mx_trainer *t, mx_rng *init) {
    const mx_train_config *c = &t->cfg;
    mx_backbone bb;
    if (!mx_backbone_from_name(c->backbone, &bb))
        return mx_error(MX_ERR_CONFIG, "backbone: unknown '%s'", c->backbone);
    mx_model_config mc = mx_model_config_default(bb);
    mc.in_channels = t->channels;
    mc.embed_dim = c->embed_dim;
    if (!mx_conv_algo_from_name(c->conv_algo, &mc.conv_algo))
        return mx_error(MX_ERR_CONFIG, "conv_algo: unknown '%s'", c->conv_algo);
    MX_TRY(mx_model_create(&mc, init, &t->model));
    if (c->weights[0]) MX_TRY(mx_model_load(t->model, c->weights, 0));
    t->d = mx_model_embed_dim(t->model);
    mx_model_set_train(t->model, !c->bn_freeze);
    mx_model_set_bn_affine_frozen(t->model, 0);

    t->level = !strcmp(c->mix, "input")     ? MIX_INPUT
               : !strcmp(c->mix, "feature") ? MIX_FEATURE
               : !strcmp(c->mix, "embed")   ? MIX_EMBED
                                            : MIX_NONE;
    t->stage = mx_model_n_stages(t->model);
    if (t->level == MIX_FEATURE && c->mix_stage[0]) {
        t->stage = mx_model_stage_index(t->model, c->mix_stage);
        if (t->stage < 1 || t->stage > mx_model_n_stages(t->model))
            return mx_error(MX_ERR_CONFIG, "mix_stage: '%s' is not a trunk stage of %s (e.g. %s)",
                            c->mix_stage, c->backbone,
                            mx_model_stage_name(t->model, mx_model_n_stages(t->model)));
    }
    return MX_OK;
}

static mx_status setup_loss_mix(mx_trainer *t, mx_rng *init) {
    const mx_train_config *c = &t->cfg;
    mx_loss_kind kind = MX_LOSS_MS;
    if (!strcmp(c->loss, "contrastive")) kind = MX_LOSS_CONTRASTIVE;
    else if (!strcmp(c->loss, "contrastive-cos")) kind = MX_LOSS_CONTRASTIVE_COS;
    else if (!strcmp(c->loss, "proxy-anchor")) kind = MX_LOSS_PROXY_ANCHOR;
    else if (!strcmp(c->loss, "triplet")) kind = MX_LOSS_TRIPLET;
    else if (!strcmp(c->loss, "proxy-nca")) kind = MX_LOSS_PROXY_NCA;
    mx_loss_config lc = mx_loss_config_default(kind);
    lc.mix_weight = c->mix_weight;
    if (kind == MX_LOSS_CONTRASTIVE) lc.pos_margin = c->contrastive_pos_margin;
    if (kind == MX_LOSS_CONTRASTIVE) lc.neg_margin = c->contrastive_neg_margin;
    if (kind == MX_LOSS_CONTRASTIVE_COS) lc.neg_margin = c->contrastive_cos_margin;
    lc.ms_beta = c->ms_pos_scale, lc.ms_gamma = c->ms_neg_scale;
    lc.ms_margin = c->ms_margin, lc.ms_eps = c->ms_epsilon, lc.ms_miner = c->ms_miner;
    lc.pa_alpha = c->pa_alpha, lc.pa_delta = c->pa_delta;
    lc.triplet_margin = c->triplet_margin;
    lc.triplet_mining = !strcmp(c->triplet_mining, "semihard")  ? MX_TRIPLET_SEMIHARD
                        : !strcmp(c->triplet_mining, "hardest") ? MX_TRIPLET_HARDEST
                                                                : MX_TRIPLET_ALL;
    lc.nca_scale = c->nca_scale;
    t->proxy_loss = kind == MX_LOSS_PROXY_ANCHOR || kind == MX_LOSS_PROXY_NCA;

    t->mix_cfg = mx_mix_config_default();
    MX_TRY(mx_mix_strategy_parse(!strcmp(c->mix_pairs, "official") ? "posneg_or_anchorneg"
                                                                   : c->mix_pairs,
                                 &t->mix_cfg.strategy));
    t->mix_cfg.neg_select = !strcmp(c->mix_negatives, "hardest")  ? MX_MIX_NEG_HARDEST
                            : !strcmp(c->mix_negatives, "random") ? MX_MIX_NEG_RANDOM
                                                                  : MX_MIX_NEG_ALL;
    t->mix_cfg.k = c->mix_k;
    t->mix_cfg.alpha = c->mix_alpha;
    t->mix_cfg.lambda_per_pair = c->mix_lambda_per_pair;
    t->mix_cfg.anchor_all = t->proxy_loss;
    /* Upper bound on mixed pairs per batch: every strategy makes at most one pair per (anchor,
     * negative) or (anchor, positive) slot (one random positive per anchor), k per anchor when
     * the negatives are limited. */
    int64_t B = t->B;
    int64_t per_anchor = t->mix_cfg.neg_select == MX_MIX_NEG_ALL ? B - 1 : MX_MIN(c->mix_k, B - 1);
    if (t->mix_cfg.strategy == MX_MIX_POSPOS) per_anchor = B - 1;
    if (t->proxy_loss) {
        /* proxy losses score every mixed row against all proxies: one mixed pair per anchor
         * (its hardest, or a random, negative) keeps the mixed set at the batch size */
        if (t->mix_cfg.neg_select == MX_MIX_NEG_ALL) t->mix_cfg.neg_select = MX_MIX_NEG_RANDOM;
        t->mix_cfg.k = 1;
        per_anchor = 1;
    }
    t->max_mixed = t->level == MIX_NONE ? 0 : B * per_anchor;
    if (t->level != MIX_NONE) MX_TRY(mx_mixer_create(&t->mix_cfg, B, &t->mixer));

    MX_TRY(mx_loss_create(&lc, t->B, t->max_mixed, t->d, t->proxy_loss ? t->n_classes : 0,
                          &t->loss));
    if (t->proxy_loss) {
        MX_TRY(alloc_f(&t->proxies, (int64_t)t->n_classes * t->d));
        MX_TRY(alloc_f(&t->d_proxies, (int64_t)t->n_classes * t->d));
        mx_loss_proxy_init(t->proxies, t->n_classes, t->d, init);
    }
    return MX_OK;
}

static mx_status setup_optim(mx_trainer *t) {
    const mx_train_config *c = &t->cfg;
    mx_optim_config oc = mx_optim_config_default();
    oc.kind = !strcmp(c->optimizer, "sgd")     ? MX_OPTIM_SGD
              : !strcmp(c->optimizer, "adamw") ? MX_OPTIM_ADAMW
                                               : MX_OPTIM_ADAM;
    oc.lr = c->lr;
    if (oc.kind == MX_OPTIM_SGD) oc.momentum = c->momentum, oc.nesterov = c->nesterov;
    MX_TRY(mx_optim_create(&oc, &t->opt));
    int buf;
    MX_TRY(mx_optim_add_buffer(t->opt, mx_model_params(t->model), mx_model_grads(t->model),
                               mx_model_n_params(t->model), &buf));
    int64_t off, cnt;
    mx_model_trunk_range(t->model, &off, &cnt);
    MX_TRY(mx_optim_add_group(t->opt, buf, off, cnt, 1.0, c->weight_decay, "trunk", &t->g_trunk));
    mx_model_head_range(t->model, &off, &cnt);
    MX_TRY(mx_optim_add_group(t->opt, buf, off, cnt, 1.0, c->weight_decay, "head", &t->g_head));
    t->g_proxy = -1;
    if (t->proxy_loss) {
        int pbuf;
        int64_t np = (int64_t)t->n_classes * t->d;
        MX_TRY(mx_optim_add_buffer(t->opt, t->proxies, t->d_proxies, np, &pbuf));
        MX_TRY(mx_optim_add_group(t->opt, pbuf, 0, np, c->proxy_lr_mult, c->weight_decay,
                                  "proxies", &t->g_proxy));
    }
    t->sched = mx_lr_schedule_default();
    t->sched.kind = !strcmp(c->schedule, "cosine") ? MX_LR_COSINE
                    : !strcmp(c->schedule, "step") ? MX_LR_STEP
                                                   : MX_LR_CONSTANT;
    t->sched.step_size = c->lr_step;
    t->sched.gamma = c->lr_gamma;
    t->sched.t_max = c->epochs;
    t->sched.warmup_iters = 0;
    return mx_lr_schedule_check(&t->sched);
}

static mx_status setup_buffers(mx_trainer *t) {
    int64_t B = t->B, M = t->max_mixed, d = t->d;
    int slots = t->level == MIX_INPUT || t->level == MIX_FEATURE ? 2 : 1;
    int64_t plan_batch = MX_MAX(B, slots == 2 ? M : 0);
    mx_status ps = mx_model_plan(t->model, slots, plan_batch, t->size, t->size);
    if (ps != MX_OK && plan_batch > B) { /* the mixed batch made the request: say which options */
        char why[400];
        snprintf(why, sizeof why, "%s", mx_errmsg());
        return mx_error(
            ps,
            "batch = %lld, mix_negatives = %s, mix_k = %d, mix_pairs = %s: %lld "
            "mixed examples per step need about %lld bytes of activations: %s; lower "
            "mix_k or batch (mix_negatives = all mixes batch - 1 negatives per anchor)",
            (long long)B, t->cfg.mix_negatives, t->cfg.mix_k, t->cfg.mix_pairs, (long long)M,
            (long long)mx_model_plan_bytes(t->model, slots, plan_batch, t->size, t->size), why);
    }
    MX_TRY(ps);
    t->feat_size = t->level == MIX_FEATURE ? mx_model_stage_size(t->model, t->stage) : 0;
    MX_TRY(alloc_f(&t->images, B * t->img_floats));
    t->labels = mx_calloc((size_t)B, sizeof(int64_t));
    if (!t->labels) return mx_error(MX_ERR_NOMEM, "trainer: labels");
    MX_TRY(alloc_f(&t->emb, B * d));
    MX_TRY(alloc_f(&t->sim, B * B));
    MX_TRY(alloc_f(&t->d_emb, B * d));
    if (t->level == MIX_FEATURE) {
        MX_TRY(alloc_f(&t->feat, B * t->feat_size));
        MX_TRY(alloc_f(&t->d_feat, B * t->feat_size));
        MX_TRY(alloc_f(&t->mixed_in, M * t->feat_size));
        MX_TRY(alloc_f(&t->d_mixed_in, M * t->feat_size));
    } else if (t->level == MIX_INPUT) {
        MX_TRY(alloc_f(&t->mixed_in, M * t->img_floats));
    }
    if (M > 0) {
        MX_TRY(alloc_f(&t->emb_mixed, M * d));
        MX_TRY(alloc_f(&t->d_emb_mixed, M * d));
        t->pairs = mx_calloc((size_t)M, sizeof(mx_mix_pair));
        if (!t->pairs) return mx_error(MX_ERR_NOMEM, "trainer: mixed pairs");
        MX_TRY(alloc_f(&t->util_mixed, (int64_t)MX_UTIL_MIXED_CAP * d));
    }
    int E = t->cfg.epochs;
    t->hist_loss = malloc(sizeof(double) * (size_t)E * 3);
    if (!t->hist_loss) return mx_error(MX_ERR_NOMEM, "trainer: history");
    t->hist_val_r1 = t->hist_loss + E;
    t->hist_test_r1 = t->hist_loss + 2 * E;
    for (int i = 0; i < 3 * E; i++) t->hist_loss[i] = NAN;
    return MX_OK;
}

static mx_status trainer_build(mx_trainer *t) {
    mx_rng root;
    mx_rng_seed(&root, t->cfg.seed);
    mx_rng init = mx_rng_split(&root);
    t->rng_mix = mx_rng_split(&root);
    MX_TRY(setup_data(t));
    MX_TRY(setup_model(t, &init));
    MX_TRY(setup_loss_mix(t, &init));
    MX_TRY(setup_optim(t));
    MX_TRY(setup_buffers(t));
    t->best_metric = -INFINITY;
    t->best_epoch = -1;
    return MX_OK;
}

static mx_status write_config(const mx_trainer *t) {
    char path[1100];
    path_in(t, "config.json", path, sizeof path);
    mx_atomic_file *af;
    FILE *f;
    MX_TRY(mx_atomic_open(path, &af, &f));
    mx_train_config_write_json(&t->cfg, f);
    return mx_atomic_commit(af);
}

mx_status mx_trainer_create(const mx_train_config *cfg, const char *run_dir, mx_trainer **out) {
    *out = NULL;
    MX_TRY(mx_train_config_validate(cfg));
    if (strlen(run_dir) >= 1000) return mx_error(MX_ERR_ARG, "run directory path too long");
    struct stat st;
    if (stat(run_dir, &st) == 0)
        return mx_error(MX_ERR_IO,
                        "%s: run directory exists; continue it with --resume %s or choose another "
                        "--output (runs are never overwritten)",
                        run_dir, run_dir);
    mx_trainer *t = calloc(1, sizeof *t);
    if (!t) return mx_error(MX_ERR_NOMEM, "trainer");
    t->cfg = *cfg;
    snprintf(t->dir, sizeof t->dir, "%s", run_dir);
    mx_threads_set(cfg->threads);
    mx_status s = trainer_build(t);
    if (s == MX_OK && mkdir(run_dir, 0777) != 0)
        s = mx_error(MX_ERR_IO, "%s: cannot create run directory: %s", run_dir, strerror(errno));
    if (s == MX_OK) s = write_config(t);
    if (s != MX_OK) {
        mx_trainer_free(t);
        return s;
    }
    *out = t;
    return MX_OK;
}

void mx_trainer_free(mx_trainer *t) {
    if (!t) return;
    mx_loader_free(t->loader);
    mx_sampler_free(t->sampler);
    mx_dataset_free(t->ds_train);
    mx_dataset_free(t->ds_val);
    mx_dataset_free(t->ds_test);
    mx_dataset_free(t->ds_query);
    mx_dataset_free(t->ds_gallery);
    mx_model_free(t->model);
    mx_loss_free(t->loss);
    mx_optim_free(t->opt);
    mx_free(t->proxies);
    mx_free(t->d_proxies);
    mx_free(t->images);
    mx_free(t->labels);
    mx_free(t->emb);
    mx_free(t->d_emb);
    mx_free(t->feat);
    mx_free(t->d_feat);
    mx_free(t->mixed_in);
    mx_free(t->d_mixed_in);
    mx_free(t->emb_mixed);
    mx_free(t->d_emb_mixed);
    mx_free(t->pairs);
    mx_free(t->sim);
    mx_mixer_free(t->mixer);
    mx_free(t->util_mixed);
    free(t->hist_loss);
    free(t);
}

const mx_train_config *mx_trainer_config(const mx_trainer *t) {
    return &t->cfg;
}

const char *mx_trainer_report_text(const mx_trainer *t) {
    return t->report_text;
}

/* ---- checkpoints ------------------------------------------------------------------------- */

static mx_status ckpt_save(mx_trainer *t, const char *name) {
    char path[1100];
    path_in(t, name, path, sizeof path);
    mx_ckpt *c;
    MX_TRY(mx_ckpt_create(&c));
    mx_status s = MX_OK;
    const float *params = mx_model_params(t->model), *stats = mx_model_stats(t->model);
    for (int i = 0; s == MX_OK && i < mx_model_param_count(t->model); i++) {
        const mx_param_info *p = mx_model_param_at(t->model, i);
        s = mx_ckpt_add(c, p->name, MX_DTYPE_F32, p->ndim, p->shape, params + p->offset);
    }
    for (int i = 0; s == MX_OK && i < mx_model_stat_count(t->model); i++) {
        const mx_stat_info *p = mx_model_stat_at(t->model, i);
        s = mx_ckpt_add(c, p->name, MX_DTYPE_F32, 1, &p->numel, stats + p->offset);
    }
    if (s == MX_OK && t->proxy_loss) {
        int64_t shape[2] = {t->n_classes, t->d};
        s = mx_ckpt_add(c, "loss.proxies", MX_DTYPE_F32, 2, shape, t->proxies);
    }
    char names[64][80];
    int n_state = mx_optim_state_count(t->opt);
    for (int i = 0; s == MX_OK && i < n_state && i < 64; i++) {
        mx_optim_state_entry e;
        s = mx_optim_state_get(t->opt, i, &e);
        if (s != MX_OK) break;
        snprintf(names[i], sizeof names[i], "optim.%s", e.name);
        s = mx_ckpt_add(c, names[i], e.type == MX_OPTIM_STATE_F32 ? MX_DTYPE_F32 : MX_DTYPE_I64, 1,
                        &e.numel, e.data);
    }
    int64_t hist_shape = t->cfg.epochs;
    if (s == MX_OK) s = mx_ckpt_add(c, "train.hist_loss", MX_DTYPE_F64, 1, &hist_shape, t->hist_loss);
    if (s == MX_OK)
        s = mx_ckpt_add(c, "train.hist_val_r1", MX_DTYPE_F64, 1, &hist_shape, t->hist_val_r1);
    if (s == MX_OK)
        s = mx_ckpt_add(c, "train.hist_test_r1", MX_DTYPE_F64, 1, &hist_shape, t->hist_test_r1);
    double acc[4] = {t->acc_loss, t->acc_clean, t->acc_mixed, t->best_metric};
    int64_t four = 4;
    if (s == MX_OK) s = mx_ckpt_add(c, "train.accumulators", MX_DTYPE_F64, 1, &four, acc);
    if (s == MX_OK) s = mx_ckpt_add_i64(c, "train.epoch", t->epoch);
    if (s == MX_OK) s = mx_ckpt_add_i64(c, "train.step_in_epoch", t->step_in_epoch);
    if (s == MX_OK) s = mx_ckpt_add_i64(c, "train.best_epoch", t->best_epoch);
    if (s == MX_OK) s = mx_ckpt_add_rng(c, "train.rng_mix", &t->rng_mix);
    if (s == MX_OK) s = mx_ckpt_set_meta(c, "backbone", t->cfg.backbone);
    if (s == MX_OK) s = mx_ckpt_save(c, path);
    mx_ckpt_free(c);
    return s;
}

static mx_status ckpt_load(mx_trainer *t, const char *path) {
    mx_safetensors *st;
    MX_TRY(mx_ckpt_open(path, &st));
    mx_status s = MX_OK;
    float *params = mx_model_params(t->model), *stats = mx_model_stats(t->model);
    for (int i = 0; s == MX_OK && i < mx_model_param_count(t->model); i++) {
        const mx_param_info *p = mx_model_param_at(t->model, i);
        s = mx_st_read_f32(st, p->name, p->ndim, p->shape, params + p->offset);
    }
    for (int i = 0; s == MX_OK && i < mx_model_stat_count(t->model); i++) {
        const mx_stat_info *p = mx_model_stat_at(t->model, i);
        s = mx_st_read_f32(st, p->name, 1, &p->numel, stats + p->offset);
    }
    if (s == MX_OK) s = mx_model_check_finite(t->model, path);
    if (s == MX_OK && t->proxy_loss) {
        int64_t shape[2] = {t->n_classes, t->d};
        s = mx_st_read_f32(st, "loss.proxies", 2, shape, t->proxies);
    }
    int n_state = mx_optim_state_count(t->opt);
    for (int i = 0; s == MX_OK && i < n_state; i++) {
        mx_optim_state_entry e;
        s = mx_optim_state_get(t->opt, i, &e);
        if (s != MX_OK) break;
        char name[80];
        snprintf(name, sizeof name, "optim.%s", e.name);
        s = mx_st_read_raw(st, name, e.type == MX_OPTIM_STATE_F32 ? MX_DTYPE_F32 : MX_DTYPE_I64, 1,
                           &e.numel, e.data);
    }
    int64_t hist_shape = t->cfg.epochs, four = 4;
    double acc[4];
    if (s == MX_OK) s = mx_st_read_raw(st, "train.hist_loss", MX_DTYPE_F64, 1, &hist_shape, t->hist_loss);
    if (s == MX_OK)
        s = mx_st_read_raw(st, "train.hist_val_r1", MX_DTYPE_F64, 1, &hist_shape, t->hist_val_r1);
    if (s == MX_OK)
        s = mx_st_read_raw(st, "train.hist_test_r1", MX_DTYPE_F64, 1, &hist_shape, t->hist_test_r1);
    if (s == MX_OK) s = mx_st_read_raw(st, "train.accumulators", MX_DTYPE_F64, 1, &four, acc);
    if (s == MX_OK) s = mx_ckpt_read_i64(st, "train.epoch", &t->epoch);
    if (s == MX_OK) s = mx_ckpt_read_i64(st, "train.step_in_epoch", &t->step_in_epoch);
    if (s == MX_OK) s = mx_ckpt_read_i64(st, "train.best_epoch", &t->best_epoch);
    if (s == MX_OK) s = mx_ckpt_read_rng(st, "train.rng_mix", &t->rng_mix);
    if (s == MX_OK) {
        t->acc_loss = acc[0], t->acc_clean = acc[1], t->acc_mixed = acc[2], t->best_metric = acc[3];
    }
    mx_st_free(st);
    return s;
}

/* Reopens run_dir with its config.json and the named checkpoint. The per-epoch history was saved
 * with the run's original epoch count; a run extended to more epochs gets longer arrays. */
static mx_status open_run(const char *run_dir, int epochs, const char *ckpt, mx_trainer **out) {
    *out = NULL;
    char path[1100];
    mx_train_config cfg = mx_train_config_default();
    snprintf(path, sizeof path, "%s/config.json", run_dir);
    MX_TRY(mx_train_config_load(&cfg, path));
    MX_TRY(mx_train_config_validate(&cfg));
    int saved_epochs = cfg.epochs;
    int E = epochs > 0 ? epochs : saved_epochs;
    if (E < saved_epochs)
        return mx_error(MX_ERR_CONFIG, "--epochs %d: the run was planned for %d epochs; a resumed "
                                       "run can only be extended", E, saved_epochs);
    mx_trainer *t = calloc(1, sizeof *t);
    if (!t) return mx_error(MX_ERR_NOMEM, "trainer");
    t->cfg = cfg;
    t->cfg.epochs = E; /* sizes the history and the cosine schedule */
    snprintf(t->dir, sizeof t->dir, "%s", run_dir);
    mx_threads_set(cfg.threads);
    mx_status s = trainer_build(t);
    if (s == MX_OK) {
        snprintf(path, sizeof path, "%s/%s", run_dir, ckpt);
        t->cfg.epochs = saved_epochs; /* the checkpoint's history length */
        s = ckpt_load(t, path);
        t->cfg.epochs = E;
    }
    if (s == MX_OK && E != saved_epochs) s = write_config(t);
    if (s != MX_OK) {
        mx_trainer_free(t);
        return s;
    }
    *out = t;
    return MX_OK;
}

mx_status mx_trainer_resume(const char *run_dir, int epochs, mx_trainer **out) {
    return open_run(run_dir, epochs, "checkpoint_last.safetensors", out);
}

mx_status mx_trainer_open(const char *run_dir, const char *checkpoint, mx_trainer **out) {
    char name[300];
    if (!checkpoint || !strcmp(checkpoint, "best"))
        snprintf(name, sizeof name, "checkpoint_best.safetensors");
    else if (!strcmp(checkpoint, "last"))
        snprintf(name, sizeof name, "checkpoint_last.safetensors");
    else
        snprintf(name, sizeof name, "%s", checkpoint);
    return open_run(run_dir, 0, name, out);
}

/* ---- one training step ------------------------------------------------------------------- */

static void zero_f(float *p, int64_t n) {
    if (p && n > 0) memset(p, 0, sizeof(float) * (size_t)n);
}

static mx_status train_step(mx_trainer *t, int64_t n, mx_loss_result *res) {
    mx_model *m = t->model;
    const int64_t d = t->d;
    int trunk_frozen = mx_optim_is_frozen(t->opt, t->g_trunk);
    mx_optim_zero_grad(t->opt);
    zero_f(t->d_emb, n * d);

    /* clean forward (slot 0); feature level keeps the map at the mixing stage */
    if (t->level == MIX_FEATURE) {
        MX_TRY(mx_model_forward(m, 0, MX_STAGE_INPUT, t->stage, t->images, n, t->feat));
        MX_TRY(mx_model_forward(m, 0, t->stage, MX_STAGE_EMBED, t->feat, n, t->emb));
    } else {
        MX_TRY(mx_model_forward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, t->images, n, t->emb));
    }

    /* Metrix: choose pairs and lambda, mix at the chosen level, embed the mixed examples */
    int64_t M = 0;
    if (t->level != MIX_NONE) {
        const float *sim = NULL;
        if (t->mix_cfg.neg_select == MX_MIX_NEG_HARDEST) {
            /* the embeddings are unit vectors: cosine similarity is their inner product */
            mx_sgemm(0, 1, n, n, d, 1.0f, t->emb, d, t->emb, d, 0.0f, t->sim, n);
            sim = t->sim;
        }
        MX_TRY(mx_mixer_sample(t->mixer, n, t->labels, sim, &t->rng_mix, t->max_mixed, t->pairs,
                               &M));
    }
    if (M > 0) {
        zero_f(t->d_emb_mixed, M * d);
        if (t->level == MIX_EMBED) {
            mx_mix_rows_forward(M, d, t->emb, t->pairs, t->emb_mixed);
        } else if (t->level == MIX_FEATURE) {
            mx_mix_rows_forward(M, t->feat_size, t->feat, t->pairs, t->mixed_in);
            MX_TRY(mx_model_forward(m, 1, t->stage, MX_STAGE_EMBED, t->mixed_in, M, t->emb_mixed));
        } else {
            mx_mix_rows_forward(M, t->img_floats, t->images, t->pairs, t->mixed_in);
            MX_TRY(mx_model_forward(m, 1, MX_STAGE_INPUT, MX_STAGE_EMBED, t->mixed_in, M,
                                    t->emb_mixed));
        }
    }

    mx_status ls = mx_loss_compute(t->loss, n, t->emb, t->labels, t->proxies, M,
                                   M ? t->emb_mixed : NULL, M ? t->pairs : NULL, res, t->d_emb,
                                   M ? t->d_emb_mixed : NULL, t->d_proxies);
    if (ls == MX_ERR_NUMERIC) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", mx_errmsg());
        return mx_error(MX_ERR_NUMERIC,
                        "epoch %" PRId64 " step %" PRId64 ": %s (the network diverged; try a "
                        "lower lr or gradient clipping); the last good checkpoint is kept",
                        t->epoch + 1, t->step_in_epoch + 1, msg);
    }
    if (ls != MX_OK) return ls;
    if (!isfinite(res->total))
        return mx_error(MX_ERR_NUMERIC,
                        "loss is %g at epoch %" PRId64 " step %" PRId64
                        " (try a lower lr or gradient clipping); the last good checkpoint is kept",
                        res->total, t->epoch + 1, t->step_in_epoch + 1);

    /* backward: the mixed path first, scattering into the clean path's gradient */
    if (t->level == MIX_FEATURE) {
        float *dfeat = trunk_frozen ? NULL : t->d_feat;
        zero_f(t->d_feat, n * t->feat_size);
        if (M > 0) {
            zero_f(t->d_mixed_in, M * t->feat_size);
            MX_TRY(mx_model_backward(m, 1, t->stage, MX_STAGE_EMBED, t->d_emb_mixed,
                                     dfeat ? t->d_mixed_in : NULL));
            if (dfeat) mx_mix_rows_backward(M, t->feat_size, t->d_mixed_in, t->pairs, dfeat);
        }
        MX_TRY(mx_model_backward(m, 0, t->stage, MX_STAGE_EMBED, t->d_emb, dfeat));
        if (!trunk_frozen) MX_TRY(mx_model_backward(m, 0, MX_STAGE_INPUT, t->stage, t->d_feat, NULL));
    } else {
        if (M > 0 && t->level == MIX_EMBED)
            mx_mix_rows_backward(M, d, t->d_emb_mixed, t->pairs, t->d_emb);
        if (M > 0 && t->level == MIX_INPUT)
            MX_TRY(mx_model_backward(m, 1, MX_STAGE_INPUT, MX_STAGE_EMBED, t->d_emb_mixed, NULL));
        MX_TRY(mx_model_backward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, t->d_emb, NULL));
    }

    /* keep mixed embeddings of the last epoch for the utilization metric */
    if (M > 0 && t->epoch + 1 == t->cfg.epochs) {
        int64_t mm;
        const float *v = mx_loss_mixed_embeddings(t->loss, &mm);
        for (int64_t k = 0; k < mm && t->n_util_mixed < MX_UTIL_MIXED_CAP; k += 7)
            memcpy(t->util_mixed + t->n_util_mixed++ * d, v + k * d, sizeof(float) * (size_t)d);
    }

    if (t->cfg.clip_value > 0) MX_TRY(mx_optim_clip_grad_value(t->opt, NULL, 0, t->cfg.clip_value));
    if (t->cfg.clip_norm > 0)
        MX_TRY(mx_optim_clip_grad_norm(t->opt, NULL, 0, t->cfg.clip_norm, NULL));
    mx_status st = mx_optim_step(t->opt);
    mx_model_params_updated(t->model); /* the step wrote the parameters: recache conv weights */
    return st;
}

/* ---- evaluation -------------------------------------------------------------------------- */

/* Embeds every example of ds (test transform, BN in eval mode) into emb (n x d), labels. */
static mx_status embed_split(mx_trainer *t, const mx_dataset *ds, float *emb, int64_t *labels) {
    mx_loader_config lc = mx_loader_config_default();
    lc.workers = t->cfg.workers;
    mx_loader *ld;
    MX_TRY(mx_loader_create(ds, NULL, t->B, &t->tf_test, &lc, &ld));
    mx_model_set_inference(t->model, 1);
    mx_status s = mx_loader_start_epoch(ld, 0);
    int64_t done = 0, n = 0;
    while (s == MX_OK) {
        s = mx_loader_next(ld, t->images, labels + done, &n);
        if (s != MX_OK || n == 0) break;
        s = mx_model_forward(t->model, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, t->images, n,
                             emb + done * t->d);
        done += n;
    }
    mx_model_set_inference(t->model, 0);
    mx_model_set_train(t->model, !t->cfg.bn_freeze);
    mx_loader_free(ld);
    return s;
}

/* Leave-one-out (or query/gallery for In-Shop) report of a split; train embeddings for
 * utilization may be NULL. */
static mx_status eval_split(mx_trainer *t, const mx_dataset *ds, const float *train,
                            int64_t n_train, int full, mx_eval_report *rep, float **emb_out,
                            int64_t **lab_out) {
    int64_t n = mx_dataset_size(ds);
    float *emb = mx_alloc(sizeof(float) * (size_t)(n * t->d));
    int64_t *lab = mx_alloc(sizeof(int64_t) * (size_t)n);
    if (!emb || !lab) {
        mx_free(emb);
        mx_free(lab);
        return mx_error(MX_ERR_NOMEM, "trainer: embeddings of %" PRId64 " examples", n);
    }
    mx_status s = embed_split(t, ds, emb, lab);
    mx_eval_config ec = mx_eval_config_default();
    ec.n_k = 4;
    ec.k[0] = 1, ec.k[1] = 2, ec.k[2] = 4, ec.k[3] = 8;
    if (!strcmp(t->cfg.dataset, "sop")) ec.k[1] = 10, ec.k[2] = 100, ec.k[3] = 1000;
    ec.nmi = full;
    ec.align_uniform = full;
    mx_rng r;
    mx_rng_seed(&r, t->cfg.seed ^ 0xe7a1);
    if (s == MX_OK) s = mx_eval_run(emb, lab, n, t->d, train, n_train, &ec, &r, rep);
    if (s == MX_OK && emb_out) {
        *emb_out = emb;
        *lab_out = lab;
    } else {
        mx_free(emb);
        mx_free(lab);
    }
    return s;
}

static mx_status eval_query_gallery(mx_trainer *t, int full, mx_eval_report *rep) {
    int64_t nq = mx_dataset_size(t->ds_query), ng = mx_dataset_size(t->ds_gallery);
    float *q = mx_alloc(sizeof(float) * (size_t)(nq * t->d));
    float *g = mx_alloc(sizeof(float) * (size_t)(ng * t->d));
    int64_t *ql = mx_alloc(sizeof(int64_t) * (size_t)nq), *gl = mx_alloc(sizeof(int64_t) * (size_t)ng);
    mx_status s = q && g && ql && gl ? MX_OK : mx_error(MX_ERR_NOMEM, "trainer: In-Shop embeddings");
    if (s == MX_OK) s = embed_split(t, t->ds_query, q, ql);
    if (s == MX_OK) s = embed_split(t, t->ds_gallery, g, gl);
    mx_eval_config ec = mx_eval_config_default();
    ec.n_k = 4;
    ec.k[0] = 1, ec.k[1] = 10, ec.k[2] = 20, ec.k[3] = 30;
    ec.nmi = full;
    ec.align_uniform = full;
    mx_rng r;
    mx_rng_seed(&r, t->cfg.seed ^ 0xe7a1);
    if (s == MX_OK) s = mx_eval_run_qg(q, ql, nq, g, gl, ng, t->d, NULL, 0, &ec, &r, rep);
    mx_free(q);
    mx_free(g);
    mx_free(ql);
    mx_free(gl);
    return s;
}

/* ---- epoch bookkeeping ------------------------------------------------------------------- */

static mx_status write_log_row(mx_trainer *t, const mx_epoch_summary *e) {
    char path[1100];
    path_in(t, "log.csv", path, sizeof path);
    int fresh = access(path, F_OK) != 0;
    FILE *f = fopen(path, "ab");
    if (!f) return mx_error(MX_ERR_IO, "%s: cannot append: %s", path, strerror(errno));
    if (fresh)
        fprintf(f, "epoch,loss,loss_clean,loss_mixed,lr,seconds,images_per_s,trunk_frozen,val_r1,"
                   "val_map_r,test_r1,test_map_r,best\n");
    fprintf(f, "%d,%.6f,%.6f,%.6f,%.6g,%.2f,%.1f,%d,%.4f,%.4f,%.4f,%.4f,%d\n", e->epoch, e->loss,
            e->loss_clean, e->loss_mixed, e->lr, e->seconds, e->images_per_s, e->trunk_frozen,
            e->val_r1, e->val_map_r, e->test_r1, e->test_map_r, e->best);
    if (fclose(f) != 0) return mx_error(MX_ERR_IO, "%s: write failed", path);
    return MX_OK;
}

static mx_status write_curves(mx_trainer *t) {
    char path[1100];
    int64_t E = t->epoch;
    float *buf = malloc(sizeof(float) * (size_t)(3 * E + 1));
    if (!buf) return mx_error(MX_ERR_NOMEM, "plots");
    for (int64_t i = 0; i < E; i++) {
        buf[i] = (float)t->hist_loss[i];
        buf[E + i] = (float)t->hist_val_r1[i];
        buf[2 * E + i] = (float)t->hist_test_r1[i];
    }
    const float *ys[2] = {buf, NULL};
    int64_t lens[2] = {E, E};
    const char *names[2] = {"training loss", NULL};
    path_in(t, "loss.png", path, sizeof path);
    mx_status s = mx_plot_lines(path, "Training loss", "epoch", "loss", 1, names, NULL, ys, lens);
    if (s == MX_OK) {
        const float *rs[2] = {buf + 2 * E, buf + E};
        const char *rn[2] = {"test Recall@1", "validation Recall@1"};
        path_in(t, "recall.png", path, sizeof path);
        s = mx_plot_lines(path, "Recall@1 per epoch", "epoch", "Recall@1", t->ds_val ? 2 : 1, rn,
                          NULL, rs, lens);
    }
    free(buf);
    return s;
}

static void set_lr_for_epoch(mx_trainer *t) {
    double f = mx_lr_factor(&t->sched, t->epoch);
    mx_optim_set_lr(t->opt, t->cfg.lr * f);
    int frozen = t->epoch < t->cfg.warmup_epochs;
    mx_optim_set_frozen(t->opt, t->g_trunk, frozen);
    mx_model_set_trunk_frozen(t->model, frozen);
}

static mx_status final_report(mx_trainer *t, const mx_train_callbacks *cb) {
    say(cb, "embedding the training split for utilization");
    float *tr = NULL;
    int64_t *trl = NULL, ntr = 0;
    mx_status s = mx_trainer_embed(t, MX_SPLIT_TRAIN, &tr, &trl, &ntr);
    if (s != MX_OK) return s;
    mx_eval_report rep;
    float *te = NULL;
    int64_t *tel = NULL;
    say(cb, "evaluating the test split");
    if (t->ds_test) s = eval_split(t, t->ds_test, tr, ntr, 1, &rep, &te, &tel);
    else s = eval_query_gallery(t, 1, &rep);
    double util_mixed = NAN;
    if (s == MX_OK && te && t->n_util_mixed > 0) {
        /* u(test, clean train + mixed embeddings of the last epoch) */
        int64_t nx = ntr + t->n_util_mixed;
        float *x = mx_alloc(sizeof(float) * (size_t)(nx * t->d));
        if (x) {
            memcpy(x, tr, sizeof(float) * (size_t)(ntr * t->d));
            memcpy(x + ntr * t->d, t->util_mixed, sizeof(float) * (size_t)(t->n_util_mixed * t->d));
            float *q = mx_alloc(sizeof(float) * (size_t)(mx_dataset_size(t->ds_test) * t->d));
            if (q) {
                memcpy(q, te, sizeof(float) * (size_t)(mx_dataset_size(t->ds_test) * t->d));
                mx_eval_normalize(q, mx_dataset_size(t->ds_test), t->d);
                mx_eval_normalize(x, nx, t->d);
                s = mx_utilization(q, mx_dataset_size(t->ds_test), x, nx, t->d, &util_mixed);
            }
            mx_free(q);
            mx_free(x);
        }
    }
    if (s == MX_OK) {
        size_t len = mx_eval_report_format(&rep, 0, t->report_text, sizeof t->report_text);
        if (len < sizeof t->report_text && isfinite(util_mixed))
            snprintf(t->report_text + len, sizeof t->report_text - len,
                     "utilization (train clean + %" PRId64 " mixed embeddings): %.4f\n",
                     t->n_util_mixed, util_mixed);
        char path[1100];
        mx_atomic_file *af;
        FILE *f;
        path_in(t, "report.txt", path, sizeof path);
        s = mx_atomic_open(path, &af, &f);
        if (s == MX_OK) {
            fputs(t->report_text, f);
            s = mx_atomic_commit(af);
        }
        path_in(t, "report.json", path, sizeof path);
        if (s == MX_OK) s = mx_atomic_open(path, &af, &f);
        if (s == MX_OK) {
            mx_eval_report_write(&rep, 1, f);
            s = mx_atomic_commit(af);
        }
    }
    if (s == MX_OK && te) {
        /* PCA map of the test embeddings coloured by class */
        int64_t n = mx_dataset_size(t->ds_test);
        float *xy = mx_alloc(sizeof(float) * (size_t)(2 * n));
        int32_t *l32 = mx_alloc(sizeof(int32_t) * (size_t)n);
        if (xy && l32) {
            for (int64_t i = 0; i < n; i++) l32[i] = (int32_t)tel[i];
            char path[1100];
            path_in(t, "embeddings_pca.png", path, sizeof path);
            /* legend: Fashion-MNIST's class names, else the dataset's class ids */
            static const char *fmnist_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                                   "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                                   "Bag",         "Ankle boot"};
            int nc = mx_dataset_classes(t->ds_test);
            char(*ids)[24] = calloc((size_t)nc, sizeof *ids);
            const char **names = calloc((size_t)nc, sizeof *names);
            if (ids && names)
                for (int k = 0; k < nc; k++) {
                    int64_t id = mx_dataset_class_id(t->ds_test, k);
                    if (dataset_kind(t->cfg.dataset) == MX_DS_FMNIST && id >= 0 && id < 10)
                        names[k] = fmnist_names[id];
                    else {
                        snprintf(ids[k], sizeof ids[k], "class %" PRId64, id);
                        names[k] = ids[k];
                    }
                }
            s = mx_pca_2d(te, n, t->d, xy, NULL);
            if (s == MX_OK)
                s = mx_plot_scatter(path, "Test embeddings (PCA), unseen classes", n, xy, l32, nc,
                                    ids && names ? names : NULL);
            free(ids);
            free(names);
        }
        mx_free(xy);
        mx_free(l32);
    }
    mx_free(tr);
    mx_free(trl);
    mx_free(te);
    mx_free(tel);
    return s;
}

mx_status mx_trainer_run(mx_trainer *t, const mx_train_callbacks *cb, volatile const int *stop) {
    const mx_train_config *c = &t->cfg;
    int64_t steps = mx_loader_batches(t->loader);
    if (c->max_steps_per_epoch > 0 && steps > c->max_steps_per_epoch) steps = c->max_steps_per_epoch;
    double run_t0 = now_s();
    int64_t run_steps = 0;
    while (t->epoch < c->epochs) {
        set_lr_for_epoch(t);
        MX_TRY(mx_loader_start_epoch(t->loader, t->epoch));
        /* a resumed epoch replays the loader up to where it stopped (same batches) */
        int64_t n = 0;
        for (int64_t k = 0; k < t->step_in_epoch; k++)
            MX_TRY(mx_loader_next(t->loader, t->images, t->labels, &n));
        if (t->step_in_epoch == 0) t->acc_loss = t->acc_clean = t->acc_mixed = 0;
        double t0 = now_s();
        int64_t done_here = 0;
        while (t->step_in_epoch < steps) {
            if (stop && *stop) {
                MX_TRY(ckpt_save(t, "checkpoint_last.safetensors"));
                say(cb, "interrupted: saved %s/checkpoint_last.safetensors (epoch %" PRId64
                        ", step %" PRId64 "); continue with: metrix train --resume %s",
                    t->dir, t->epoch + 1, t->step_in_epoch, t->dir);
                return mx_error(MX_ERR_INTERRUPTED, "training interrupted; checkpoint saved in %s",
                                t->dir);
            }
            MX_TRY(mx_loader_next(t->loader, t->images, t->labels, &n));
            if (n == 0) break;
            mx_loss_result res;
            MX_TRY(train_step(t, n, &res));
            t->acc_loss += res.total, t->acc_clean += res.clean, t->acc_mixed += res.mixed;
            t->step_in_epoch++, done_here++, run_steps++;
            if (cb && cb->progress) {
                double el = now_s() - t0, run_el = now_s() - run_t0;
                double per_step = run_el / (double)run_steps;
                mx_train_progress p = {(int)t->epoch + 1, c->epochs, t->step_in_epoch, steps,
                                       t->acc_loss / (double)t->step_in_epoch,
                                       (double)(done_here * t->B) / MX_MAX(el, 1e-9),
                                       per_step * (double)((c->epochs - t->epoch - 1) * steps +
                                                           (steps - t->step_in_epoch))};
                cb->progress(cb->user, &p);
            }
        }
        double secs = now_s() - t0;
        int64_t ns = MX_MAX(t->step_in_epoch, 1);
        mx_epoch_summary e = {(int)t->epoch + 1, t->acc_loss / (double)ns,
                              t->acc_clean / (double)ns, t->acc_mixed / (double)ns,
                              mx_optim_get_lr(t->opt), secs,
                              (double)(done_here * t->B) / MX_MAX(secs, 1e-9),
                              mx_optim_is_frozen(t->opt, t->g_trunk), NAN, NAN, NAN, NAN, 0};
        t->hist_loss[t->epoch] = e.loss;
        t->epoch++;
        t->step_in_epoch = 0;
        int last = t->epoch == c->epochs;
        int evaluate = (c->eval_every > 0 && t->epoch % c->eval_every == 0) || last;
        if (evaluate && t->ds_val) {
            mx_eval_report r;
            MX_TRY(eval_split(t, t->ds_val, NULL, 0, 0, &r, NULL, NULL));
            e.val_r1 = r.recall[0], e.val_map_r = r.map_at_r;
            t->hist_val_r1[t->epoch - 1] = e.val_r1;
        }
        if (evaluate && c->eval_test && t->ds_test) {
            mx_eval_report r;
            MX_TRY(eval_split(t, t->ds_test, NULL, 0, 0, &r, NULL, NULL));
            e.test_r1 = r.recall[0], e.test_map_r = r.map_at_r;
            t->hist_test_r1[t->epoch - 1] = e.test_r1;
        }
        /* model selection on the validation split only; without one the last epoch is "best" */
        double metric = t->ds_val ? e.val_r1 : (double)t->epoch;
        if (isfinite(metric) && metric > t->best_metric) {
            t->best_metric = metric;
            t->best_epoch = t->epoch;
            e.best = 1;
        }
        MX_TRY(write_log_row(t, &e));
        MX_TRY(ckpt_save(t, "checkpoint_last.safetensors"));
        if (e.best) MX_TRY(ckpt_save(t, "checkpoint_best.safetensors"));
        MX_TRY(write_curves(t));
        if (cb && cb->epoch_end) cb->epoch_end(cb->user, &e);
    }
    return final_report(t, cb);
}

/* ---- using a trained run ----------------------------------------------------------------- */

static const mx_dataset *split_dataset(const mx_trainer *t, mx_split split) {
    switch (split) {
    case MX_SPLIT_TRAIN: return t->ds_train;
    case MX_SPLIT_VAL: return t->ds_val;
    case MX_SPLIT_TEST: return t->ds_test;
    case MX_SPLIT_QUERY: return t->ds_query;
    case MX_SPLIT_GALLERY: return t->ds_gallery;
    }
    return NULL;
}

mx_status mx_trainer_embed(mx_trainer *t, mx_split split, float **emb, int64_t **labels,
                           int64_t *n) {
    *emb = NULL, *labels = NULL, *n = 0;
    const mx_dataset *ds = split_dataset(t, split);
    if (!ds)
        return mx_error(MX_ERR_ARG, "%s: this run has no such split (validation needs "
                                    "val_fraction > 0; query / gallery are In-Shop's)", t->dir);
    int64_t N = mx_dataset_size(ds);
    float *e = mx_alloc(sizeof(float) * (size_t)(N * t->d));
    int64_t *l = mx_alloc(sizeof(int64_t) * (size_t)N);
    mx_status s = e && l ? embed_split(t, ds, e, l)
                         : mx_error(MX_ERR_NOMEM, "embeddings of %" PRId64 " examples", N);
    if (s == MX_OK) s = mx_eval_normalize(e, N, t->d);
    if (s != MX_OK) {
        mx_free(e);
        mx_free(l);
        return s;
    }
    *emb = e, *labels = l, *n = N;
    return MX_OK;
}

int mx_trainer_embed_dim(const mx_trainer *t) {
    return t->d;
}

mx_status mx_trainer_evaluate(mx_trainer *t, mx_split split, mx_eval_report *rep) {
    if (split == MX_SPLIT_TEST && t->ds_query) return eval_query_gallery(t, 1, rep);
    const mx_dataset *ds = split_dataset(t, split);
    if (!ds) return mx_error(MX_ERR_ARG, "%s: this run has no such split", t->dir);
    return eval_split(t, ds, NULL, 0, 1, rep, NULL, NULL);
}
