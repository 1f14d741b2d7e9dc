/* Trainer setup: create a run, or reopen one (resume / open) from config.json and a checkpoint. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/trainer_impl.h"

/* ---- setup ------------------------------------------------------------------------------- */

static mx_status setup_data(mx_trainer *t) {
    const mx_train_config *c = &t->cfg;
    int fmnist = mx_tr_dataset_kind(c->dataset) == MX_DS_FMNIST;
    MX_TRY(mx_tr_open_split(t, MX_SPLIT_TRAIN, &t->ds_train));
    if (c->val_fraction > 0) MX_TRY(mx_tr_open_split(t, MX_SPLIT_VAL, &t->ds_val));
    if (mx_tr_dataset_kind(c->dataset) == MX_DS_INSHOP) {
        MX_TRY(mx_tr_open_split(t, MX_SPLIT_QUERY, &t->ds_query));
        MX_TRY(mx_tr_open_split(t, MX_SPLIT_GALLERY, &t->ds_gallery));
    } else {
        MX_TRY(mx_tr_open_split(t, MX_SPLIT_TEST, &t->ds_test));
    }
    t->n_classes = mx_dataset_classes(t->ds_train);

    if (fmnist) {
        t->tf_train = mx_transform_config_fmnist(1);
        t->tf_test = mx_transform_config_fmnist(0);
    } else if (mx_tr_dataset_kind(c->dataset) == MX_DS_GLYPHS) { /* size x size renderings */
        mx_image im;
        MX_TRY(mx_dataset_image(t->ds_train, 0, 0, &im));
        int size = im.w;
        mx_image_free(&im);
        t->tf_train = mx_transform_config_glyphs(1, size);
        t->tf_test = mx_transform_config_glyphs(0, size);
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

    t->B = c->batch;
    if (t->infer_only) { /* no training loader; inference runs in chunks */
        t->B = MX_MIN(c->batch, MX_INFER_CHUNK);
        return MX_OK;
    }
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
    lc.shard = t->rank, lc.shards = t->nranks; /* this rank decodes its rows of every batch */
    MX_TRY(mx_loader_create(t->ds_train, t->sampler, 0, &t->tf_train, &lc, &t->loader));
    /* the loader's ring: prefetch batches of B images (data.h) */
    t->loader_bytes =
        (int64_t)lc.prefetch * (t->B / t->nranks) * t->img_floats * (int64_t)sizeof(float);
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
    if (!mx_precision_from_name(c->precision, &t->precision))
        return mx_error(MX_ERR_CONFIG, "precision: unknown '%s'", c->precision);
    if (t->infer_only && !mx_precision_supported(t->precision)) {
        /* an opened run (eval / embed) on a CPU without bf16: its float checkpoint in fp32, the
         * reference precision (no emulation) */
        mx_log(MX_LOG_WARN,
               "precision: the run trained in %s, which this CPU cannot run; "
               "evaluating in fp32",
               c->precision);
        t->precision = MX_PRECISION_FP32;
    }
    MX_TRY(mx_precision_check(t->precision));
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
    /* feature level: the fused head needs the mixing point right before the head */
    int last = t->stage == mx_model_n_stages(t->model);
    if (t->level == MIX_FEATURE && !strcmp(c->mix_fused, "on") && !last)
        return mx_error(MX_ERR_CONFIG,
                        "mix_fused: 'on' needs mixing after the last stage (%s), but layers follow "
                        "mix_stage '%s'; use mix_fused auto or off",
                        mx_model_stage_name(t->model, mx_model_n_stages(t->model)), c->mix_stage);
    t->fused = t->level == MIX_FEATURE && last && strcmp(c->mix_fused, "off") != 0;
    return MX_OK;
}

static mx_status setup_loss_mix(mx_trainer *t, mx_rng *init) {
    const mx_train_config *c = &t->cfg;
    mx_loss_kind kind = MX_LOSS_MS;
    if (!strcmp(c->loss, "contrastive"))
        kind = MX_LOSS_CONTRASTIVE;
    else if (!strcmp(c->loss, "contrastive-cos"))
        kind = MX_LOSS_CONTRASTIVE_COS;
    else if (!strcmp(c->loss, "proxy-anchor"))
        kind = MX_LOSS_PROXY_ANCHOR;
    else if (!strcmp(c->loss, "triplet"))
        kind = MX_LOSS_TRIPLET;
    else if (!strcmp(c->loss, "proxy-nca"))
        kind = MX_LOSS_PROXY_NCA;
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
    /* input level: every mixed image is a forward + backward pass of the whole network */
    t->max_run = t->max_mixed;
    if (t->level == MIX_INPUT && c->mix_input_max >= 0)
        t->max_run = MX_MIN(t->max_run, c->mix_input_max ? (int64_t)c->mix_input_max : 2 * B);
    if (t->level != MIX_NONE) MX_TRY(mx_mixer_create(&t->mix_cfg, B, &t->mixer));

    MX_TRY(
        mx_loss_create(&lc, t->B, t->max_mixed, t->d, t->proxy_loss ? t->n_classes : 0, &t->loss));
    if (t->proxy_loss) {
        MX_TRY(mx_tr_alloc_f(&t->proxies, (int64_t)t->n_classes * t->d));
        MX_TRY(mx_tr_alloc_f(&t->d_proxies, (int64_t)t->n_classes * t->d));
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
        MX_TRY(mx_optim_add_group(t->opt, pbuf, 0, np, c->proxy_lr_mult, c->weight_decay, "proxies",
                                  &t->g_proxy));
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

/* t->mix_path: which mixing path runs and what its buffers cost (logged when training starts) */
static void describe_mix_path(mx_trainer *t) {
    const double MB = 1.0 / (1024.0 * 1024.0);
    const char *sname = mx_model_stage_name(t->model, t->stage);
    long long M = (long long)t->max_mixed;
    if (t->level == MIX_FEATURE && t->fused)
        snprintf(t->mix_path, sizeof t->mix_path,
                 "mixing: feature level after %s, fused head (pooled from the clean maps; "
                 "%.1f MB of buffers for up to %lld mixed pairs)",
                 sname, (double)mx_mix_head_bytes(t->mhead) * MB, M);
    else if (t->level == MIX_FEATURE)
        snprintf(t->mix_path, sizeof t->mix_path,
                 "mixing: feature level after %s, unfused (%s): %.1f MB of mixed maps and their "
                 "gradients, and a network slot for %lld examples",
                 sname,
                 t->stage < mx_model_n_stages(t->model) ? "layers follow the mixing stage"
                                                        : "mix_fused off",
                 2.0 * (double)M * (double)t->feat_size * sizeof(float) * MB, M);
    else if (t->level == MIX_EMBED)
        snprintf(t->mix_path, sizeof t->mix_path,
                 "mixing: embedding level (up to %lld mixed embeddings; no network pass)", M);
    else if (t->level == MIX_INPUT)
        snprintf(t->mix_path, sizeof t->mix_path,
                 "mixing: input level, up to %lld of up to %lld selected pairs per step "
                 "(mix_input_max), each a full forward + backward pass",
                 (long long)t->max_run, M);
}

/* The most mixed examples one rank runs through the network per step (input level and unfused
 * feature level; ranks share the mixed examples out, trainer_dist.c). */
static int64_t mixed_share_max(const mx_trainer *t) {
    int64_t M = t->level == MIX_INPUT ? t->max_run : t->max_mixed;
    return (M + t->nranks - 1) / t->nranks;
}

/* The network plan: slot 0 for the clean batch; slot 1 for the mixed examples, from the mixing
 * stage on (unfused feature level: M) or the input (input level: max_run); the fused head
 * (feature level, only the head after the mixing stage) needs no slot. Evaluation runs in slot 0 in
 * inference mode, inside the training plan's memory. An opened run plans inference only. */
static mx_plan_config plan_config(const mx_trainer *t) {
    int slots =
        !t->infer_only && (t->level == MIX_INPUT || (t->level == MIX_FEATURE && !t->fused)) ? 2 : 1;
    mx_plan_config pc = mx_plan_config_default(slots, t->B, t->size, t->size);
    if (slots == 2) {
        pc.max_batch[1] = MX_MAX(mixed_share_max(t), 1);
        pc.from_stage[1] = t->level == MIX_FEATURE ? t->stage : MX_STAGE_INPUT;
    }
    pc.inference = t->infer_only;
    pc.precision = t->precision;
    return pc;
}

/* One step buffer of n floats (or bytes): allocated, or only counted into *size when size is
 * given (the memory check sizes the buffers before allocating them). */
static mx_status buf_f(float **p, int64_t n, int64_t *size) {
    if (size) {
        *size += n * (int64_t)sizeof(float);
        return MX_OK;
    }
    return mx_tr_alloc_f(p, n);
}

static mx_status buf_b(void **p, int64_t bytes, int64_t *size, const char *what) {
    if (size) {
        *size += bytes;
        return MX_OK;
    }
    *p = mx_calloc((size_t)bytes, 1);
    return *p ? MX_OK : mx_error(MX_ERR_NOMEM, "trainer: %s", what);
}

/* The step buffers; with steps / mixed given (both), only their bytes are counted there (the
 * mixed path's separately). */
static mx_status step_buffers(mx_trainer *t, int64_t *steps, int64_t *mixed) {
    int64_t B = t->B, M = t->max_mixed, d = t->d;
    MX_TRY(buf_f(&t->images, B * t->img_floats, steps));
    if (t->infer_only) return MX_OK;
    MX_TRY(buf_b((void **)&t->labels, B * (int64_t)sizeof(int64_t), steps, "labels"));
    MX_TRY(buf_f(&t->emb, B * d, steps));
    MX_TRY(buf_f(&t->sim, B * B, steps));
    MX_TRY(buf_f(&t->d_emb, B * d, steps));
    if (t->level == MIX_FEATURE) {
        /* several ranks gather the maps into feat; bf16 plans hold bf16 maps: float copies */
        t->feat_inplace = t->nranks == 1 && t->precision == MX_PRECISION_FP32;
        if (!t->feat_inplace) {
            MX_TRY(buf_f(&t->feat, B * t->feat_size, steps));
            MX_TRY(buf_f(&t->d_feat, B * t->feat_size, steps));
        }
        if (t->nranks > 1) { /* the all-to-all of the maps (mx_tr_exchange_maps) */
            const int64_t N = t->nranks;
            MX_TRY(buf_f(&t->xsend, (B - t->b_n) * t->feat_size, steps));
            MX_TRY(buf_f(&t->xrecv, (B - t->b_n) * t->feat_size, steps));
            MX_TRY(buf_b((void **)&t->need, N * B, steps, "pair rows per rank"));
            MX_TRY(buf_b((void **)&t->xcounts, 2 * N * (int64_t)sizeof(int64_t), steps,
                         "all-to-all counts"));
        }
        if (t->fused && M > 0) { /* O(M C) pooled buffers: counted from a probe head */
            mx_mix_head *h = NULL;
            MX_TRY(mx_mix_head_create(t->model, B, mixed_share_max(t), &h));
            if (mixed) {
                *mixed += mx_mix_head_bytes(h);
                mx_mix_head_free(h);
            } else {
                t->mhead = h;
            }
        } else {
            MX_TRY(buf_f(&t->mixed_in, mixed_share_max(t) * t->feat_size, mixed));
            MX_TRY(buf_f(&t->d_mixed_in, mixed_share_max(t) * t->feat_size, mixed));
        }
    } else if (t->level == MIX_INPUT) {
        MX_TRY(buf_f(&t->mixed_in, mixed_share_max(t) * t->img_floats, mixed));
    }
    if (!steps) describe_mix_path(t);
    if (M > 0) {
        MX_TRY(buf_f(&t->emb_mixed, M * d, mixed));
        MX_TRY(buf_f(&t->d_emb_mixed, M * d, mixed));
        MX_TRY(buf_b((void **)&t->pairs, M * (int64_t)sizeof(mx_mix_pair), mixed, "mixed pairs"));
        MX_TRY(buf_f(&t->util_mixed, (int64_t)MX_UTIL_MIXED_CAP * d, mixed));
    }
    return MX_OK;
}

static mx_status setup_buffers(mx_trainer *t) {
    mx_plan_config pc = plan_config(t);
    if (t->infer_only) {
        MX_TRY(mx_model_plan_ex(t->model, &pc));
        return step_buffers(t, NULL, NULL);
    }
    /* the memory check, before the plan's buffers (estimated) and again with the plan made
     * (oneDNN's memory included) and the step buffers sized; nothing is touched before it */
    mx_tr_mem mem = {.fixed = mx_tr_mem_fixed(t)};
    MX_TRY(mx_model_plan_estimate(t->model, &pc, &mem.plan));
    if (pc.n_slots == 2) {
        mx_plan_config one = pc;
        int64_t clean = 0;
        one.n_slots = 1;
        MX_TRY(mx_model_plan_estimate(t->model, &one, &clean));
        mem.mixed_plan = mem.plan - clean;
    }
    MX_TRY(mx_tr_mem_check(t, &mem, "before planning"));
    MX_TRY(mx_model_plan_ex(t->model, &pc));
    t->feat_size = t->level == MIX_FEATURE ? mx_model_stage_size(t->model, t->stage) : 0;
    MX_TRY(step_buffers(t, &mem.steps, &mem.mixed));
    mem.plan = mx_model_plan_bytes(t->model);
    MX_TRY(mx_tr_mem_check(t, &mem, "after planning"));
    MX_TRY(step_buffers(t, NULL, NULL));
    int E = t->cfg.epochs;
    t->hist_loss = malloc(sizeof(double) * (size_t)E * 3);
    if (!t->hist_loss) return mx_error(MX_ERR_NOMEM, "trainer: history");
    t->hist_val_r1 = t->hist_loss + E;
    t->hist_test_r1 = t->hist_loss + 2 * E;
    for (int i = 0; i < 3 * E; i++) t->hist_loss[i] = NAN;
    return MX_OK;
}

static mx_status mx_tr_build(mx_trainer *t) {
    mx_rng root;
    mx_rng_seed(&root, t->cfg.seed);
    mx_rng init = mx_rng_split(&root);
    t->rng_mix = mx_rng_split(&root);
    MX_TRY(mx_tr_dist_init(t, t->comm));
    MX_TRY(setup_data(t));
    MX_TRY(setup_model(t, &init));
    if (!t->infer_only) {
        MX_TRY(setup_loss_mix(t, &init));
        MX_TRY(setup_optim(t));
    }
    MX_TRY(setup_buffers(t));
    if (!t->infer_only) MX_TRY(mx_tr_buckets_init(t));
    t->best_metric = -INFINITY;
    t->best_epoch = -1;
    return MX_OK;
}

mx_status mx_tr_write_config(const mx_trainer *t) {
    if (t->follower) return MX_OK; /* rank 0 alone writes the run directory */
    char path[1100];
    mx_tr_path(t, "config.json", path, sizeof path);
    mx_atomic_file *af;
    FILE *f;
    MX_TRY(mx_atomic_open(path, &af, &f));
    mx_train_config_write_json(&t->cfg, f);
    return mx_atomic_commit(af);
}

/* A trainer for run_dir with cfg, nothing built yet (NULL when out of memory); sets the threads. */
static mx_trainer *trainer_new(const mx_train_config *cfg, const char *run_dir, mx_comm *comm) {
    mx_trainer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->lock_fd = -1;
    t->comm = comm; /* NULL: mx_tr_build makes a single-process one */
    t->nranks = 1;
    t->cfg = *cfg;
    snprintf(t->dir, sizeof t->dir, "%s", run_dir);
    mx_threads_set(cfg->threads);
    return t;
}

/* mx_comm_agree when there is a communicator */
static mx_status agree_c(mx_comm *comm, mx_status s) {
    return comm ? mx_comm_agree(comm, s) : s;
}

mx_status mx_trainer_create(const mx_train_config *cfg, const char *run_dir, mx_trainer **out) {
    return mx_trainer_create_comm(cfg, run_dir, NULL, out);
}

mx_status mx_trainer_create_comm(const mx_train_config *cfg, const char *run_dir, mx_comm *comm,
                                 mx_trainer **out) {
    *out = NULL;
    int writer = !comm || mx_comm_rank(comm) == 0;
    mx_status s = mx_train_config_validate(cfg);
    if (s == MX_OK && strlen(run_dir) >= 1000)
        s = mx_error(MX_ERR_ARG, "run directory path too long");
    struct stat st;
    if (s == MX_OK && writer && stat(run_dir, &st) == 0)
        s = mx_error(MX_ERR_IO,
                     "%s: run directory exists; continue it with --resume %s or choose another "
                     "--output (runs are never overwritten)",
                     run_dir, run_dir);
    MX_TRY(agree_c(comm, s));
    mx_trainer *t = trainer_new(cfg, run_dir, comm);
    if (!t) return agree_c(comm, mx_error(MX_ERR_NOMEM, "trainer"));
    s = agree_c(comm, mx_tr_build(t));
    if (s == MX_OK && writer && mkdir(run_dir, 0777) != 0)
        s = mx_error(MX_ERR_IO, "%s: cannot create run directory: %s", run_dir, strerror(errno));
    if (s == MX_OK) s = mx_tr_dir_acquire(t);
    if (s == MX_OK) s = mx_tr_write_config(t);
    if (s == MX_OK) s = mx_tr_write_classes(t);
    s = agree_c(comm, s);
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
    mx_mix_head_free(t->mhead);
    mx_free(t->util_mixed);
    free(t->hist_loss);
    free(t->counts);
    free(t->bucket_lo);
    mx_free(t->need);
    mx_free(t->xcounts);
    mx_free(t->xsend);
    mx_free(t->xrecv);
    if (t->own_comm) mx_comm_free(t->comm);
    if (t->lock_fd >= 0) close(t->lock_fd); /* releases the run directory's lock */
    free(t);
}

void mx_trainer_set_stop(mx_trainer *t, volatile const int *stop) {
    if (t) t->stop = stop;
}

const mx_train_config *mx_trainer_config(const mx_trainer *t) {
    return &t->cfg;
}

const char *mx_trainer_report_text(const mx_trainer *t) {
    return t->report_text;
}

/* config.json of run_dir into *cfg, with what to do when it is missing or damaged. */
static mx_status load_run_config(const char *run_dir, mx_train_config *cfg) {
    char path[1100];
    struct stat st;
    if (stat(run_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return mx_error(MX_ERR_IO, "%s: no such run directory", run_dir);
    snprintf(path, sizeof path, "%s/config.json", run_dir);
    if (stat(path, &st) != 0 && errno == ENOENT)
        return mx_error(MX_ERR_IO,
                        "%s: missing: the run was stopped before it was set up, so nothing was "
                        "trained; remove %s and start the run again",
                        path, run_dir);
    mx_status s = mx_train_config_load(cfg, path);
    if (s == MX_OK) s = mx_train_config_validate(cfg);
    if (s != MX_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", mx_errmsg());
        return mx_error(s,
                        "%s (the run's config.json is damaged: restore it from a copy of the "
                        "run, or remove %s and train again)",
                        msg, run_dir);
    }
    return MX_OK;
}

/* resume: the run's checkpoint, or none yet (a fresh start) */
static mx_status open_run(const char *run_dir, int epochs, const char *ckpt, int resume,
                          int threads, mx_comm *comm, mx_trainer **out) {
    *out = NULL;
    char path[1100];
    mx_train_config cfg = mx_train_config_default();
    MX_TRY(agree_c(comm, load_run_config(run_dir, &cfg)));
    if (threads >= 0) cfg.threads = threads; /* an opened run: the caller's choice */
    int saved_epochs = cfg.epochs;
    int E = epochs > 0 ? epochs : saved_epochs;
    if (E < saved_epochs)
        return mx_error(MX_ERR_CONFIG,
                        "--epochs %d: the run was planned for %d epochs; a resumed "
                        "run can only be extended",
                        E, saved_epochs);
    mx_trainer *t = trainer_new(&cfg, run_dir, comm);
    if (!t) return agree_c(comm, mx_error(MX_ERR_NOMEM, "trainer"));
    t->cfg.epochs = E;       /* sizes the history and the cosine schedule */
    t->infer_only = !resume; /* an opened run (eval / embed) plans inference only */
    mx_status s = mx_tr_build(t);
    /* resume: lock, write probe and stale temp files before reading the checkpoint */
    if (s == MX_OK && resume) s = mx_tr_dir_acquire(t);
    if (s == MX_OK && resume) s = mx_tr_dir_clean_temps(t);
    snprintf(path, sizeof path, "%s/%s", run_dir, ckpt);
    struct stat st;
    if (s == MX_OK && resume && stat(path, &st) != 0 && errno == ENOENT) {
        mx_log(MX_LOG_WARN,
               "%s: no checkpoint yet (the run stopped before its first one): starting it from "
               "the beginning with its config.json",
               run_dir);
    } else if (s == MX_OK) {
        s = mx_tr_ckpt_load(t, path);
    }
    /* the log describes exactly the checkpointed epochs */
    if (s == MX_OK && resume) s = mx_tr_log_cut(t, t->epoch);
    if (s == MX_OK && E != saved_epochs) s = mx_tr_write_config(t);
    s = agree_c(comm, s);
    if (s != MX_OK) {
        mx_trainer_free(t);
        return s;
    }
    *out = t;
    return MX_OK;
}

mx_status mx_trainer_resume(const char *run_dir, int epochs, mx_trainer **out) {
    return open_run(run_dir, epochs, "checkpoint_last.safetensors", 1, -1, NULL, out);
}

mx_status mx_trainer_resume_comm(const char *run_dir, int epochs, mx_comm *comm, mx_trainer **out) {
    return open_run(run_dir, epochs, "checkpoint_last.safetensors", 1, -1, comm, out);
}

mx_status mx_trainer_open(const char *run_dir, const char *checkpoint, mx_trainer **out) {
    return mx_trainer_open_threads(run_dir, checkpoint, -1, out);
}

mx_status mx_trainer_open_threads(const char *run_dir, const char *checkpoint, int threads,
                                  mx_trainer **out) {
    return mx_trainer_open_comm(run_dir, checkpoint, threads, NULL, out);
}

mx_status mx_trainer_open_comm(const char *run_dir, const char *checkpoint, int threads,
                               mx_comm *comm, mx_trainer **out) {
    char name[300];
    if (!checkpoint || !strcmp(checkpoint, "best"))
        snprintf(name, sizeof name, "checkpoint_best.safetensors");
    else if (!strcmp(checkpoint, "last"))
        snprintf(name, sizeof name, "checkpoint_last.safetensors");
    else
        snprintf(name, sizeof name, "%s", checkpoint);
    return open_run(run_dir, 0, name, 0, threads, comm, out);
}
