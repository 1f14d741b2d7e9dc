/* The nn model: backbone graphs (smallcnn, torchvision resnet18/50) with the Metrix head,
 * the parameter table, initialisation, safetensors load/save, and the double-precision reference
 * executor used by the tests. The oneDNN executor is in exec.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core_impl.h"
#include "metrix/io.h"
#include "nn/nn_impl.h"

int mx_backbone_from_name(const char *name, mx_backbone *out) {
    static const char *names[] = {"smallcnn", "resnet18", "resnet50"};
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, names[i])) {
            *out = (mx_backbone)i;
            return 1;
        }
    return 0;
}

const char *mx_backbone_name(mx_backbone b) {
    switch (b) {
    case MX_BACKBONE_SMALLCNN:
        return "smallcnn";
    case MX_BACKBONE_RESNET18:
        return "resnet18";
    case MX_BACKBONE_RESNET50:
        return "resnet50";
    }
    return "?";
}

int mx_conv_algo_from_name(const char *name, mx_conv_algo *out) {
    static const char *names[] = {"winograd", "direct"};
    for (int i = 0; i < 2; i++)
        if (name && !strcmp(name, names[i])) {
            *out = (mx_conv_algo)i;
            return 1;
        }
    return 0;
}

const char *mx_conv_algo_name(mx_conv_algo a) {
    switch (a) {
    case MX_CONV_WINOGRAD:
        return "winograd";
    case MX_CONV_DIRECT:
        return "direct";
    }
    return "?";
}

mx_model_config mx_model_config_default(mx_backbone b) {
    mx_model_config c;
    c.backbone = b;
    c.in_channels = b == MX_BACKBONE_SMALLCNN ? 1 : 3;
    c.embed_dim = 0;
    c.bn_eps = 1e-5f;
    c.bn_momentum = 0.1f;
    c.conv_algo = MX_CONV_WINOGRAD;
    return c;
}

/* ---- graph building ---------------------------------------------------------------------- */

static int64_t add_param(mx_model *m, const char *prefix, const char *suffix, mx_param_kind kind,
                         int ndim, const int64_t *shape) {
    MX_ASSERT(m->n_ptab < MX_NN_MAX_PARAMS);
    int i = m->n_ptab++;
    mx_param_info *p = &m->params[i];
    snprintf(m->pnames[i], MX_NN_NAME, "%s%s", prefix, suffix);
    p->name = m->pnames[i];
    p->ndim = ndim;
    p->numel = 1;
    for (int d = 0; d < 4; d++) p->shape[d] = d < ndim ? shape[d] : 1;
    for (int d = 0; d < ndim; d++) p->numel *= shape[d];
    p->offset = m->np;
    p->kind = kind;
    p->head = 0;
    m->np += p->numel;
    return p->offset;
}

static int64_t add_stat(mx_model *m, const char *prefix, const char *suffix, int64_t numel) {
    MX_ASSERT(m->n_stab < MX_NN_MAX_PARAMS);
    int i = m->n_stab++;
    snprintf(m->snames[i], MX_NN_NAME, "%s%s", prefix, suffix);
    m->stats[i].name = m->snames[i];
    m->stats[i].offset = m->nst;
    m->stats[i].numel = numel;
    m->nst += numel;
    return m->stats[i].offset;
}

static int new_node(mx_model *m, mx_node_kind kind, int in0, int c_out) {
    MX_ASSERT(m->n_nodes < MX_NN_MAX_NODES);
    mx_node *nd = &m->nodes[m->n_nodes++];
    memset(nd, 0, sizeof *nd);
    nd->kind = kind;
    nd->in0 = in0;
    nd->in1 = -1;
    nd->out = m->n_tensors++;
    nd->w = nd->b = nd->rm = nd->rv = -1;
    m->tensor_c[nd->out] = c_out;
    return nd->out;
}

static int g_conv(mx_model *m, const char *name, int in, int oc, int k, int stride, int pad,
                  int bias) {
    int ic = m->tensor_c[in];
    int t = new_node(m, MX_NODE_CONV, in, oc);
    mx_node *nd = &m->nodes[m->n_nodes - 1];
    nd->k = k;
    nd->stride = stride;
    nd->pad = pad;
    int64_t ws[4] = {oc, ic, k, k}, bs[1] = {oc};
    nd->w = add_param(m, name, ".weight", MX_PARAM_CONV_WEIGHT, 4, ws);
    if (bias) nd->b = add_param(m, name, ".bias", MX_PARAM_BIAS, 1, bs);
    return t;
}

static int g_bn(mx_model *m, const char *name, int in, int relu) {
    int c = m->tensor_c[in];
    int t = new_node(m, MX_NODE_BN, in, c);
    mx_node *nd = &m->nodes[m->n_nodes - 1];
    int64_t s[1] = {c};
    nd->relu = relu;
    nd->w = add_param(m, name, ".weight", MX_PARAM_BN_WEIGHT, 1, s);
    nd->b = add_param(m, name, ".bias", MX_PARAM_BN_BIAS, 1, s);
    nd->rm = add_stat(m, name, ".running_mean", c);
    nd->rv = add_stat(m, name, ".running_var", c);
    return t;
}

static int g_pool(mx_model *m, int in, int k, int stride, int pad) {
    int t = new_node(m, MX_NODE_MAXPOOL, in, m->tensor_c[in]);
    mx_node *nd = &m->nodes[m->n_nodes - 1];
    nd->k = k;
    nd->stride = stride;
    nd->pad = pad;
    return t;
}

static int g_add_relu(mx_model *m, int a, int b) {
    int t = new_node(m, MX_NODE_ADD, a, m->tensor_c[a]);
    mx_node *nd = &m->nodes[m->n_nodes - 1];
    nd->in1 = b;
    nd->relu = 1;
    return t;
}

static void end_stage(mx_model *m, const char *name, int t) {
    int s = ++m->n_stages;
    MX_ASSERT(s <= MX_NN_MAX_STAGES);
    m->stage_tensor[s] = t;
    m->stage_end[s] = m->n_nodes;
    m->stage_names[s] = name;
}

static void build_smallcnn(mx_model *m) {
    static const char *names[] = {"block1", "block2", "block3"};
    int t = 0, ch[3] = {32, 64, 128};
    for (int i = 0; i < 3; i++) {
        char cn[16], bn[16];
        snprintf(cn, sizeof cn, "conv%d", i + 1);
        snprintf(bn, sizeof bn, "bn%d", i + 1);
        t = g_conv(m, cn, t, ch[i], 3, 1, 1, 0);
        t = g_bn(m, bn, t, 1);
        if (i < 2) t = g_pool(m, t, 2, 2, 0);
        end_stage(m, names[i], t);
    }
}

static void build_resnet(mx_model *m, int bottleneck, const int *blocks) {
    static const char *names[] = {"layer1", "layer2", "layer3", "layer4"};
    int exp = bottleneck ? 4 : 1, inplanes = 64;
    int t = g_conv(m, "conv1", 0, 64, 7, 2, 3, 0);
    t = g_bn(m, "bn1", t, 1);
    t = g_pool(m, t, 3, 2, 1);
    end_stage(m, "stem", t);
    for (int l = 0; l < 4; l++) {
        int planes = 64 << l;
        for (int b = 0; b < blocks[l]; b++) {
            int stride = (b == 0 && l > 0) ? 2 : 1;
            char p[64];
            int x = t, y, sc = t;
#define NM(s) (snprintf(p, sizeof p, "layer%d.%d." s, l + 1, b), p)
            if (bottleneck) {
                y = g_conv(m, NM("conv1"), x, planes, 1, 1, 0, 0);
                y = g_bn(m, NM("bn1"), y, 1);
                y = g_conv(m, NM("conv2"), y, planes, 3, stride, 1, 0);
                y = g_bn(m, NM("bn2"), y, 1);
                y = g_conv(m, NM("conv3"), y, planes * 4, 1, 1, 0, 0);
                y = g_bn(m, NM("bn3"), y, 0);
            } else {
                y = g_conv(m, NM("conv1"), x, planes, 3, stride, 1, 0);
                y = g_bn(m, NM("bn1"), y, 1);
                y = g_conv(m, NM("conv2"), y, planes, 3, 1, 1, 0);
                y = g_bn(m, NM("bn2"), y, 0);
            }
            if (stride != 1 || inplanes != planes * exp) {
                sc = g_conv(m, NM("downsample.0"), x, planes * exp, 1, stride, 0, 0);
                sc = g_bn(m, NM("downsample.1"), sc, 0);
            }
#undef NM
            t = g_add_relu(m, y, sc);
            inplanes = planes * exp;
        }
        end_stage(m, names[l], t);
    }
}

/* Test networks (backbone MX_NN_TEST_NET + kind): one stage around a single layer under test. */
static void build_test(mx_model *m, int kind) {
    int t = 0;
    switch (kind) {
    case 0:
        t = g_conv(m, "conv", 0, 16, 3, 1, 1, 1);
        break;
    case 1:
        t = g_bn(m, "bn", g_conv(m, "conv", 0, 16, 3, 2, 1, 0), 0);
        break;
    case 2:
        t = g_bn(m, "bn", g_conv(m, "conv", 0, 16, 3, 1, 1, 0), 1);
        break;
    case 3:
        t = g_pool(m, g_conv(m, "conv", 0, 16, 3, 1, 1, 0), 3, 2, 1);
        break;
    case 4:
        t = g_conv(m, "conv", 0, 16, 1, 1, 0, 1);
        t = g_add_relu(m, t, g_conv(m, "conv2", 0, 16, 3, 1, 1, 0));
        break;
    case 5:
        t = g_bn(m, "bn", g_conv(m, "conv", 0, 16, 7, 2, 3, 0), 1);
        t = g_pool(m, t, 3, 2, 1);
        break;
    default: /* 16 -> 16 3x3 stride 1: Winograd applies to conv2 */
        t = g_conv(m, "conv2", g_conv(m, "conv", 0, 16, 3, 1, 1, 1), 16, 3, 1, 1, 0);
        t = g_bn(m, "bn", t, 1);
        break;
    }
    end_stage(m, "block1", t);
}

mx_status mx_model_create(const mx_model_config *cfg, mx_rng *rng, mx_model **out) {
    *out = NULL;
    int test = (int)cfg->backbone >= MX_NN_TEST_NET;
    if (!test && (cfg->backbone < MX_BACKBONE_SMALLCNN || cfg->backbone > MX_BACKBONE_RESNET50))
        return mx_error(MX_ERR_CONFIG, "nn: model config: unknown backbone %d", (int)cfg->backbone);
    if (cfg->in_channels < 1 || cfg->embed_dim < 0 || !(cfg->bn_eps > 0) ||
        !(cfg->bn_momentum >= 0 && cfg->bn_momentum <= 1))
        return mx_error(MX_ERR_CONFIG,
                        "nn: model config: expected in_channels >= 1 (got %d), embed_dim >= 0 "
                        "(got %d), bn_eps > 0, 0 <= bn_momentum <= 1",
                        cfg->in_channels, cfg->embed_dim);
    mx_model *m = calloc(1, sizeof *m);
    if (!m) return mx_error(MX_ERR_NOMEM, "nn: out of memory creating the model");
    m->cfg = *cfg;
    m->d = cfg->embed_dim ? cfg->embed_dim : (cfg->backbone == MX_BACKBONE_SMALLCNN ? 128 : 512);
    m->n_tensors = 1;
    m->tensor_c[0] = cfg->in_channels;
    m->stage_names[0] = "input";
    static const int r18[4] = {2, 2, 2, 2}, r50[4] = {3, 4, 6, 3};
    if (test)
        build_test(m, (int)cfg->backbone - MX_NN_TEST_NET);
    else if (cfg->backbone == MX_BACKBONE_SMALLCNN)
        build_smallcnn(m);
    else if (cfg->backbone == MX_BACKBONE_RESNET18)
        build_resnet(m, 0, r18);
    else
        build_resnet(m, 1, r50);
    m->trunk_np = m->np;
    int fc = m->tensor_c[m->stage_tensor[m->n_stages]];
    int64_t ws[2] = {m->d, fc}, bs[1] = {m->d};
    m->emb_w = add_param(m, "embedding", ".weight", MX_PARAM_LINEAR_WEIGHT, 2, ws);
    m->emb_b = add_param(m, "embedding", ".bias", MX_PARAM_BIAS, 1, bs);
    m->params[m->n_ptab - 1].head = m->params[m->n_ptab - 2].head = 1;
    m->p = mx_calloc((size_t)m->np, sizeof(float));
    m->g = mx_calloc((size_t)m->np, sizeof(float));
    m->st = mx_calloc((size_t)MX_MAX(m->nst, 1), sizeof(float));
    if (!m->p || !m->g || !m->st) {
        mx_model_free(m);
        return mx_error(MX_ERR_NOMEM, "nn: out of memory for %lld parameters", (long long)m->np);
    }
    /* torchvision init: Kaiming normal, fan_out, gain sqrt(2); BN weight 1 bias 0; running
     * mean 0 var 1. The embedding: Kaiming normal fan_out (= d), bias 0. */
    for (int i = 0; i < m->n_ptab; i++) {
        mx_param_info *p = &m->params[i];
        float *w = m->p + p->offset;
        if (p->kind == MX_PARAM_CONV_WEIGHT || p->kind == MX_PARAM_LINEAR_WEIGHT) {
            double fan_out = (double)p->shape[0] * (p->ndim == 4 ? p->shape[2] * p->shape[3] : 1);
            double sd = sqrt(2.0 / fan_out);
            for (int64_t j = 0; j < p->numel; j++) w[j] = (float)(sd * mx_rng_normal(rng));
        } else if (p->kind == MX_PARAM_BN_WEIGHT) {
            for (int64_t j = 0; j < p->numel; j++) w[j] = 1.0f;
        }
    }
    for (int i = 0; i < m->n_stab; i++)
        if (strstr(m->stats[i].name, "running_var"))
            for (int64_t j = 0; j < m->stats[i].numel; j++) m->st[m->stats[i].offset + j] = 1.0f;
    m->bn_train = 1;
    m->pver = 1;
    *out = m;
    return MX_OK;
}

void mx_model_free(mx_model *m) {
    if (!m) return;
    mx_nn_plan_free(m->plan);
    mx_free(m->p);
    mx_free(m->g);
    mx_free(m->st);
    free(m);
}

mx_plan_config mx_plan_config_default(int n_slots, int64_t max_batch, int h, int w) {
    mx_plan_config pc;
    memset(&pc, 0, sizeof pc);
    pc.n_slots = n_slots;
    for (int i = 0; i < MX_PLAN_MAX_SLOTS; i++) pc.max_batch[i] = max_batch;
    pc.h = h;
    pc.w = w;
    return pc;
}

/* Checks pc and sets the spatial size of every tensor for an h x w input (m->th, m->tw). */
static mx_status plan_shapes(mx_model *m, const mx_plan_config *pc) {
    int h = pc->h, w = pc->w;
    if (pc->n_slots < 1 || pc->n_slots > MX_PLAN_MAX_SLOTS || h < 1 || w < 1)
        return mx_error(MX_ERR_ARG,
                        "nn: plan: expected 1 <= n_slots <= %d, h, w >= 1 (got %d, %d, %d)",
                        MX_PLAN_MAX_SLOTS, pc->n_slots, h, w);
    if (pc->precision != MX_PRECISION_FP32 && pc->precision != MX_PRECISION_BF16)
        return mx_error(MX_ERR_ARG, "nn: plan: precision %d unknown: expected fp32 or bf16",
                        (int)pc->precision);
    for (int i = 0; i < pc->n_slots; i++) {
        if (pc->max_batch[i] < 1)
            return mx_error(MX_ERR_ARG, "nn: plan: slot %d: expected max_batch >= 1, got %lld", i,
                            (long long)pc->max_batch[i]);
        if (pc->from_stage[i] < 0 || pc->from_stage[i] > m->n_stages)
            return mx_error(MX_ERR_ARG,
                            "nn: plan: slot %d: from_stage %d out of range 0..%d (%s has %d trunk "
                            "stages)",
                            i, pc->from_stage[i], m->n_stages, mx_backbone_name(m->cfg.backbone),
                            m->n_stages);
    }
    m->th[0] = h;
    m->tw[0] = w;
    for (int i = 0; i < m->n_nodes; i++) {
        const mx_node *nd = &m->nodes[i];
        int ih = m->th[nd->in0], iw = m->tw[nd->in0];
        if (nd->kind == MX_NODE_CONV || nd->kind == MX_NODE_MAXPOOL) {
            int oh = (ih + 2 * nd->pad - nd->k) / nd->stride + 1;
            int ow = (iw + 2 * nd->pad - nd->k) / nd->stride + 1;
            if (ih + 2 * nd->pad < nd->k || iw + 2 * nd->pad < nd->k)
                return mx_error(MX_ERR_SHAPE,
                                "nn: plan: input %dx%d is too small for %s (node %d sees %dx%d)", h,
                                w, mx_backbone_name(m->cfg.backbone), i, ih, iw);
            m->th[nd->out] = oh;
            m->tw[nd->out] = ow;
        } else {
            m->th[nd->out] = ih;
            m->tw[nd->out] = iw;
        }
    }
    return MX_OK;
}

mx_status mx_model_plan_ex(mx_model *m, const mx_plan_config *pc) {
    mx_nn_plan_free(m->plan);
    m->plan = NULL;
    m->plan_h = m->plan_w = 0;
    MX_TRY(plan_shapes(m, pc));
    MX_TRY(mx_precision_check(pc->precision));
    /* refuse a plan larger than the machine's memory before the allocator meets it */
    int64_t need = 0;
    MX_TRY(mx_nn_plan_size(m, pc, &need));
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    int64_t have = pages > 0 && page > 0 ? (int64_t)pages * page : INT64_MAX;
    if (need > have)
        return mx_error(MX_ERR_NOMEM,
                        "nn: plan: the network's buffers need %lld bytes, more than the %lld bytes "
                        "of memory",
                        (long long)need, (long long)have);
    m->plan_h = pc->h;
    m->plan_w = pc->w;
    return mx_nn_plan_create(m, pc, &m->plan);
}

mx_status mx_model_plan(mx_model *m, int n_slots, int64_t max_batch, int h, int w) {
    if (n_slots < 1 || max_batch < 1 || h < 1 || w < 1)
        return mx_error(MX_ERR_ARG,
                        "nn: plan: expected n_slots >= 1, max_batch >= 1, h, w >= 1 "
                        "(got %d, %lld, %d, %d)",
                        n_slots, (long long)max_batch, h, w);
    mx_plan_config pc = mx_plan_config_default(n_slots, max_batch, h, w);
    return mx_model_plan_ex(m, &pc);
}

mx_status mx_model_plan_estimate(mx_model *m, const mx_plan_config *pc, int64_t *bytes) {
    *bytes = 0;
    /* the shapes are the current plan's: keep them */
    int th[MX_NN_MAX_NODES + 1], tw[MX_NN_MAX_NODES + 1];
    memcpy(th, m->th, sizeof th);
    memcpy(tw, m->tw, sizeof tw);
    mx_status s = plan_shapes(m, pc);
    if (s == MX_OK) s = mx_nn_plan_size(m, pc, bytes);
    memcpy(m->th, th, sizeof th);
    memcpy(m->tw, tw, sizeof tw);
    return s;
}

/* ---- accessors --------------------------------------------------------------------------- */

int mx_model_embed_dim(const mx_model *m) {
    return m->d;
}
int mx_model_n_stages(const mx_model *m) {
    return m->n_stages;
}

int mx_model_stage_index(const mx_model *m, const char *name) {
    if (!name) return -1;
    if (!strcmp(name, "embedding")) return MX_STAGE_EMBED;
    for (int s = 0; s <= m->n_stages; s++)
        if (!strcmp(name, m->stage_names[s])) return s;
    return -1;
}

const char *mx_model_stage_name(const mx_model *m, int stage) {
    if (stage == MX_STAGE_EMBED) return "embedding";
    if (stage < 0 || stage > m->n_stages) return "?";
    return m->stage_names[stage];
}

int64_t mx_model_stage_size(const mx_model *m, int stage) {
    if (!m->plan || stage < 0) return 0;
    if (stage == MX_STAGE_EMBED) return m->d;
    if (stage > m->n_stages) return 0;
    return mx_nn_stage_size(m, stage);
}

void mx_model_stage_shape(const mx_model *m, int stage, int *c, int *h, int *w) {
    if (stage == MX_STAGE_EMBED) {
        *c = m->d;
        *h = *w = 1;
        return;
    }
    int t = m->stage_tensor[stage < 0 || stage > m->n_stages ? 0 : stage];
    *c = m->tensor_c[t];
    *h = m->plan_h ? m->th[t] : 0;
    *w = m->plan_w ? m->tw[t] : 0;
}

float *mx_model_params(mx_model *m) {
    m->pver++; /* the caller may write through the pointer */
    return m->p;
}
void mx_model_params_updated(mx_model *m) {
    m->pver++;
}
float *mx_model_grads(mx_model *m) {
    return m->g;
}
float *mx_model_stats(mx_model *m) {
    return m->st;
}
int64_t mx_model_n_params(const mx_model *m) {
    return m->np;
}
int64_t mx_model_n_stats(const mx_model *m) {
    return m->nst;
}
int mx_model_param_count(const mx_model *m) {
    return m->n_ptab;
}
int mx_model_stat_count(const mx_model *m) {
    return m->n_stab;
}

const mx_param_info *mx_model_param_at(const mx_model *m, int i) {
    return i >= 0 && i < m->n_ptab ? &m->params[i] : NULL;
}

const mx_stat_info *mx_model_stat_at(const mx_model *m, int i) {
    return i >= 0 && i < m->n_stab ? &m->stats[i] : NULL;
}

void mx_model_trunk_range(const mx_model *m, int64_t *offset, int64_t *count) {
    *offset = 0;
    *count = m->trunk_np;
}

void mx_model_head_range(const mx_model *m, int64_t *offset, int64_t *count) {
    *offset = m->trunk_np;
    *count = m->np - m->trunk_np;
}

void mx_model_zero_grad(mx_model *m) {
    memset(m->g, 0, (size_t)m->np * sizeof(float));
}
void mx_model_set_train(mx_model *m, int bn_train) {
    m->bn_train = bn_train != 0;
}
void mx_model_set_bn_affine_frozen(mx_model *m, int frozen) {
    m->affine_frozen = frozen != 0;
}
void mx_model_set_trunk_frozen(mx_model *m, int frozen) {
    m->trunk_frozen = frozen != 0;
}
void mx_model_set_inference(mx_model *m, int inference) {
    m->inference = inference != 0;
}

/* ---- safetensors ------------------------------------------------------------------------- */

mx_status mx_model_load(mx_model *m, const char *path, int strict_head) {
    mx_safetensors *st = NULL;
    MX_TRY(mx_st_open(path, &st));
    m->pver++; /* cached conv weight layouts are stale even if the load fails midway */
    mx_status s = MX_OK;
    for (int i = 0; i < m->n_ptab && s == MX_OK; i++) {
        const mx_param_info *p = &m->params[i];
        if (p->head && !strict_head && !mx_st_find(st, p->name)) continue;
        if (!mx_st_find(st, p->name)) {
            s = mx_error(MX_ERR_SHAPE, "%s: missing tensor '%s' (expected for %s)", path, p->name,
                         mx_backbone_name(m->cfg.backbone));
            break;
        }
        s = mx_st_read_f32(st, p->name, p->ndim, p->shape, m->p + p->offset);
    }
    for (int i = 0; i < m->n_stab && s == MX_OK; i++) {
        const mx_stat_info *q = &m->stats[i];
        if (!mx_st_find(st, q->name)) {
            s = mx_error(MX_ERR_SHAPE, "%s: missing tensor '%s' (expected for %s)", path, q->name,
                         mx_backbone_name(m->cfg.backbone));
            break;
        }
        s = mx_st_read_f32(st, q->name, 1, &q->numel, m->st + q->offset);
    }
    mx_st_free(st);
    return s == MX_OK ? mx_model_check_finite(m, path) : s;
}

/* First non-finite element of x[0..n), or -1. */
static int64_t first_nonfinite(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return -1;
}

mx_status mx_model_check_finite(const mx_model *m, const char *path) {
    for (int i = 0; i < m->n_ptab + m->n_stab; i++) {
        int par = i < m->n_ptab;
        const char *name = par ? m->params[i].name : m->stats[i - m->n_ptab].name;
        const float *x = par ? m->p + m->params[i].offset : m->st + m->stats[i - m->n_ptab].offset;
        int64_t j = first_nonfinite(x, par ? m->params[i].numel : m->stats[i - m->n_ptab].numel);
        if (j >= 0)
            return mx_error(MX_ERR_NUMERIC,
                            "%s: tensor '%s': element %lld is %g (weights must be finite)", path,
                            name, (long long)j, (double)x[j]);
    }
    return MX_OK;
}

mx_status mx_model_save(const mx_model *m, const char *path) {
    int n = m->n_ptab + m->n_stab;
    mx_tensor_view *v = calloc((size_t)n, sizeof *v);
    if (!v) return mx_error(MX_ERR_NOMEM, "nn: out of memory saving %s", path);
    for (int i = 0; i < m->n_ptab; i++) {
        const mx_param_info *p = &m->params[i];
        v[i].name = p->name;
        v[i].dtype = MX_DTYPE_F32;
        v[i].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) v[i].shape[d] = p->shape[d];
        v[i].data = m->p + p->offset;
        v[i].nbytes = (size_t)p->numel * sizeof(float);
    }
    for (int i = 0; i < m->n_stab; i++) {
        mx_tensor_view *t = &v[m->n_ptab + i];
        t->name = m->stats[i].name;
        t->dtype = MX_DTYPE_F32;
        t->ndim = 1;
        t->shape[0] = m->stats[i].numel;
        t->data = m->st + m->stats[i].offset;
        t->nbytes = (size_t)m->stats[i].numel * sizeof(float);
    }
    const char *meta[2] = {"backbone", mx_backbone_name(m->cfg.backbone)};
    mx_status s = mx_st_write(path, v, (size_t)n, meta, 1); /* one key/value pair */
    free(v);
    return s;
}

/* ---- reference executor (double, NCHW) --------------------------------------------------- */

mx_status mx_nn_ref_run(const mx_model *m, const double *params, const double *x, int64_t n, int h,
                        int w, double *feat, double *emb, const double *demb, double *dparams,
                        double *dx) {
    int th[MX_NN_MAX_NODES + 1], tw[MX_NN_MAX_NODES + 1];
    double *act[MX_NN_MAX_NODES + 1] = {0}, *dact[MX_NN_MAX_NODES + 1] = {0};
    double *bmean[MX_NN_MAX_NODES] = {0}, *bvar[MX_NN_MAX_NODES] = {0};
    double *P = NULL, *pdbl = NULL;
    mx_status s = MX_OK;
    int C = m->tensor_c[m->stage_tensor[m->n_stages]], d = m->d;
    if (!params) {
        pdbl = malloc((size_t)m->np * sizeof(double));
        if (!pdbl) return mx_error(MX_ERR_NOMEM, "nn: ref: out of memory");
        for (int64_t i = 0; i < m->np; i++) pdbl[i] = m->p[i];
        params = pdbl;
    }
    th[0] = h;
    tw[0] = w;
    size_t in_sz = (size_t)(n * m->tensor_c[0] * h * w);
    act[0] = malloc(in_sz * sizeof(double));
    dact[0] = calloc(in_sz, sizeof(double));
    if (!act[0] || !dact[0]) goto nomem;
    memcpy(act[0], x, in_sz * sizeof(double));
    for (int i = 0; i < m->n_nodes; i++) {
        const mx_node *nd = &m->nodes[i];
        int ih = th[nd->in0], iw = tw[nd->in0], ic = m->tensor_c[nd->in0],
            oc = m->tensor_c[nd->out];
        int oh = ih, ow = iw;
        if (nd->kind == MX_NODE_CONV || nd->kind == MX_NODE_MAXPOOL) {
            oh = (ih + 2 * nd->pad - nd->k) / nd->stride + 1;
            ow = (iw + 2 * nd->pad - nd->k) / nd->stride + 1;
        }
        th[nd->out] = oh;
        tw[nd->out] = ow;
        size_t sz = (size_t)(n * oc * oh * ow);
        act[nd->out] = malloc(sz * sizeof(double));
        dact[nd->out] = calloc(sz, sizeof(double));
        if (!act[nd->out] || !dact[nd->out]) goto nomem;
        double *y = act[nd->out];
        const double *a = act[nd->in0];
        switch (nd->kind) {
        case MX_NODE_CONV:
            mx_ref_conv_fwd(a, n, ic, ih, iw, params + nd->w, nd->b >= 0 ? params + nd->b : NULL,
                            oc, nd->k, nd->stride, nd->pad, y);
            break;
        case MX_NODE_BN: {
            bmean[i] = malloc((size_t)oc * sizeof(double));
            bvar[i] = malloc((size_t)oc * sizeof(double));
            if (!bmean[i] || !bvar[i]) goto nomem;
            if (!m->bn_train)
                for (int c = 0; c < oc; c++) {
                    bmean[i][c] = m->st[nd->rm + c];
                    bvar[i][c] = m->st[nd->rv + c];
                }
            mx_ref_bn_fwd(a, n, oc, oh * ow, params + nd->w, params + nd->b, m->cfg.bn_eps,
                          m->bn_train, bmean[i], bvar[i], nd->relu, y);
            break;
        }
        case MX_NODE_MAXPOOL:
            mx_ref_maxpool_fwd(a, n, ic, ih, iw, nd->k, nd->stride, nd->pad, y);
            break;
        case MX_NODE_ADD:
            mx_ref_add_fwd(a, act[nd->in1], (int64_t)sz, nd->relu, y);
            break;
        }
    }
    int tl = m->stage_tensor[m->n_stages], hw = th[tl] * tw[tl];
    P = malloc((size_t)(n * (2 * C + 4 * d)) * sizeof(double));
    if (!P) goto nomem;
    double *dP = P + n * C, *Y = dP + n * C, *dY = Y + n * d, *E = dY + n * d, *dE = E + n * d;
    mx_ref_gapgmp_fwd(act[tl], n, C, hw, P);
    mx_ref_linear_fwd(P, n, C, params + m->emb_w, params + m->emb_b, d, Y);
    mx_ref_l2norm_fwd(Y, n, d, E);
    if (emb) memcpy(emb, E, (size_t)(n * d) * sizeof(double));
    if (feat) memcpy(feat, act[tl], (size_t)(n * C * hw) * sizeof(double));
    if (demb && dparams) {
        memcpy(dE, demb, (size_t)(n * d) * sizeof(double));
        memset(dY, 0, (size_t)(n * d) * sizeof(double));
        memset(dP, 0, (size_t)(n * C) * sizeof(double));
        mx_ref_l2norm_bwd(Y, n, d, dE, dY);
        mx_ref_linear_bwd(P, n, C, params + m->emb_w, d, dY, dP, dparams + m->emb_w,
                          dparams + m->emb_b);
        mx_ref_gapgmp_bwd(act[tl], n, C, hw, dP, dact[tl]);
        for (int i = m->n_nodes - 1; i >= 0; i--) {
            const mx_node *nd = &m->nodes[i];
            int ih = th[nd->in0], iw = tw[nd->in0], ic = m->tensor_c[nd->in0];
            int oc = m->tensor_c[nd->out];
            const double *a = act[nd->in0], *y = act[nd->out], *dy = dact[nd->out];
            double *da = dact[nd->in0];
            switch (nd->kind) {
            case MX_NODE_CONV:
                mx_ref_conv_bwd(a, n, ic, ih, iw, params + nd->w, oc, nd->k, nd->stride, nd->pad,
                                dy, da, dparams + nd->w, nd->b >= 0 ? dparams + nd->b : NULL);
                break;
            case MX_NODE_BN:
                mx_ref_bn_bwd(a, n, oc, ih * iw, params + nd->w, m->cfg.bn_eps, m->bn_train,
                              bmean[i], bvar[i], nd->relu, y, dy, da, dparams + nd->w,
                              dparams + nd->b);
                break;
            case MX_NODE_MAXPOOL:
                mx_ref_maxpool_bwd(a, n, ic, ih, iw, nd->k, nd->stride, nd->pad, dy, da);
                break;
            case MX_NODE_ADD:
                mx_ref_add_bwd(y, n * oc * th[nd->out] * tw[nd->out], nd->relu, dy, da,
                               dact[nd->in1]);
                break;
            }
        }
        if (dx)
            for (size_t i = 0; i < in_sz; i++) dx[i] += dact[0][i];
    }
    goto done;
nomem:
    s = mx_error(MX_ERR_NOMEM, "nn: ref: out of memory");
done:
    for (int t = 0; t < m->n_tensors; t++) {
        free(act[t]);
        free(dact[t]);
    }
    for (int i = 0; i < m->n_nodes; i++) {
        free(bmean[i]);
        free(bvar[i]);
    }
    free(P);
    free(pdbl);
    return s;
}
