/* The oneDNN executor of the nn module: per-slot activation buffers, primitives and the
 * forward / backward passes over the node graph of model.c.
 *
 * Layouts: the input is plain NCHW; every other activation uses one blocked layout picked by
 * oneDNN (a probe convolution created with dnnl_format_tag_any; nChw16c on AVX-512), so that
 * convolution, batch norm, pooling and the residual adds chain without reorders. Convolution
 * weights use whatever layout each primitive picks (format_tag_any) and are reordered from the
 * torch-layout parameter buffer (OIHW) only when the parameters changed (mx_model.pver, bumped
 * by mx_model_params_updated / mx_model_params / mx_model_load); weight gradients are reordered
 * back and ADDED to the gradient buffer. Primitives are built for a slot's batch size and mode on
 * the first call with that (n, mode) and kept: steady-state steps allocate nothing.
 * Which buffer each activation and activation gradient lives in is decided by plan.c (the
 * layout); this file allocates it. Memory oneDNN allocates itself (weights in primitive layouts,
 * workspaces) is counted per slot (dnnl_bytes) for mx_model_plan_bytes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "core/core_impl.h"
#include "metrix/gemm.h"
#include "nn/nn_impl.h"

#define T_MAX MX_NN_T_MAX

typedef struct nexec {
    dnnl_primitive_t fwd, bwd_d, bwd_w;
    dnnl_primitive_t wr, wr_bd,
        dwr; /* reorders: user w -> fwd w, user w -> bwd-data w, dw -> user */
    dnnl_memory_t w_user, w_fwd, w_bd, dw_prim, dw_user, bias, dbias, ws;
    dnnl_memory_t scale, shift, mean, var, dscale, dshift;
    float *bmean, *bvar, *dsc, *dsh; /* bn batch stats, d gamma / d beta (or conv d bias) */
    uint64_t ver_fwd, ver_bd;        /* mx_model.pver that w_fwd / w_bd were reordered from */
    int wino;                        /* conv: passes (bit 0 fwd, 1 bwd-data, 2 bwd-weights) on
                                        Winograd */
} nexec;

typedef struct slot {
    int64_t max_n, n; /* n: batch the primitives are built for (0: none) */
    int from;         /* first stage: tensors before it have no buffers (act NULL) */
    int mode;         /* bn_train + 2 * inference at build time */
    /* views into actpool / difpool (NULL: none); elements of the plan's type (float / bf16) */
    void *act[T_MAX], *dif[T_MAX], *scratch;
    void *actpool[T_MAX], *difpool[T_MAX];
    int n_actpool, n_difpool;
    int64_t dnnl_bytes; /* memory oneDNN allocated for this slot's primitives */
    dnnl_memory_desc_t md[T_MAX];
    dnnl_memory_t ma[T_MAX], mdf[T_MAX], msc[T_MAX];
    nexec ne[MX_NN_MAX_NODES];
    int valid[T_MAX];
    float *P, *dP, *Y, *dY; /* head: pooled (n x C), linear output (n x d) */
    int32_t *argmax;
} slot;

struct mx_plan {
    mx_model *m;
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    dnnl_format_tag_t tag;
    int blk;
    mx_precision prec;   /* activations: */
    dnnl_data_type_t dt; /* dnnl_f32 or dnnl_bf16 */
    int bf16;            /* prec == MX_PRECISION_BF16 */
    int n_slots;
    int inference; /* forward-only plan (mx_plan_config.inference) */
    slot *s;
    float *dw_tmp;
    mx_nn_layout L;
};

#define DN(call)                                                                                   \
    do {                                                                                           \
        dnnl_status_t mx__d = (call);                                                              \
        if (mx__d != dnnl_success)                                                                 \
            return mx_error(MX_ERR_BACKEND, "nn: oneDNN call failed (status %d): %s", (int)mx__d,  \
                            #call);                                                                \
    } while (0)

static int64_t tsize(const mx_model *m, int t) {
    return (int64_t)m->tensor_c[t] * m->th[t] * m->tw[t];
}

int64_t mx_nn_stage_size(const mx_model *m, int stage) {
    return tsize(m, m->stage_tensor[stage]);
}

int mx_nn_layout_block(const mx_model *m, int stage) {
    int t = m->stage_tensor[stage];
    return t == 0 ? 1 : m->plan->blk ? m->plan->blk : m->tensor_c[t];
}

static void md_tag(dnnl_memory_desc_t *md, int64_t n, int c, int h, int w, dnnl_format_tag_t tag,
                   dnnl_data_type_t dt) {
    dnnl_dims_t d = {n, c, h, w};
    dnnl_memory_desc_init_by_tag(md, 4, d, dt, tag);
}

static mx_status mem(dnnl_memory_t *out, const dnnl_memory_desc_t *md, dnnl_engine_t eng,
                     void *handle) {
    DN(dnnl_memory_create(out, md, eng, handle ? handle : DNNL_MEMORY_ALLOCATE));
    return MX_OK;
}

static int64_t mem_size(const_dnnl_memory_t mm) {
    const dnnl_memory_desc_t *md = NULL;
    if (!mm || dnnl_memory_get_memory_desc(mm, &md) != dnnl_success) return 0;
    return (int64_t)dnnl_memory_desc_get_size(md);
}

/* Bytes oneDNN allocated for node e: weights reordered into primitive layouts (a reorder
 * primitive exists exactly then), workspaces; plus the per-channel arrays. */
static int64_t nexec_owned_bytes(const nexec *e, int c) {
    int64_t b = (e->wr ? mem_size(e->w_fwd) : 0) + (e->wr_bd ? mem_size(e->w_bd) : 0) +
                (e->dwr ? mem_size(e->dw_prim) : 0) + mem_size(e->ws);
    return b + (int64_t)c * sizeof(float) *
                   ((e->bmean != NULL) + (e->bvar != NULL) + (e->dsc != NULL) + (e->dsh != NULL));
}

static mx_status run(mx_plan *p, dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args) {
    DN(dnnl_primitive_execute(prim, p->strm, nargs, args));
    DN(dnnl_stream_wait(p->strm));
    return MX_OK;
}

static mx_status reorder_prim(mx_plan *p, const dnnl_memory_desc_t *src,
                              const dnnl_memory_desc_t *dst, dnnl_primitive_t *out) {
    dnnl_primitive_desc_t pd;
    DN(dnnl_reorder_primitive_desc_create(&pd, src, p->eng, dst, p->eng, NULL));
    dnnl_status_t st = dnnl_primitive_create(out, pd);
    dnnl_primitive_desc_destroy(pd);
    DN(st);
    return MX_OK;
}

static mx_status reorder(mx_plan *p, dnnl_primitive_t r, dnnl_memory_t src, dnnl_memory_t dst) {
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
    return run(p, r, 2, a);
}

/* Picks the activation layout: the dst layout oneDNN chooses for a typical 3x3 64->64 conv in
 * the plan's data type. */
static mx_status probe_layout(mx_plan *p) {
    dnnl_memory_desc_t s, w, d, want;
    dnnl_dims_t sd = {32, 64, 28, 28}, wd = {64, 64, 3, 3}, st = {1, 1}, pad = {1, 1};
    DN(dnnl_memory_desc_init_by_tag(&s, 4, sd, p->dt, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&w, 4, wd, p->dt, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&d, 4, sd, p->dt, dnnl_format_tag_any));
    dnnl_convolution_desc_t cd;
    DN(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct, &s,
                                          &w, NULL, &d, st, pad, pad));
    dnnl_primitive_desc_t pd;
    DN(dnnl_primitive_desc_create(&pd, &cd, NULL, p->eng, NULL));
    const dnnl_memory_desc_t *got = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    static const dnnl_format_tag_t tags[] = {dnnl_nChw16c, dnnl_nChw8c, dnnl_nhwc};
    static const int blks[] = {16, 8, 0};
    p->tag = dnnl_nchw;
    p->blk = 1;
    for (int i = 0; i < 3; i++) {
        md_tag(&want, 32, 64, 28, 28, tags[i], p->dt);
        if (dnnl_memory_desc_equal(got, &want)) {
            p->tag = tags[i];
            p->blk = blks[i];
            break;
        }
    }
    dnnl_primitive_desc_destroy(pd);
    return MX_OK;
}

static void nexec_free(nexec *e) {
    dnnl_primitive_t *prims[] = {&e->fwd, &e->bwd_d, &e->bwd_w, &e->wr, &e->wr_bd, &e->dwr};
    for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++)
        if (*prims[i]) dnnl_primitive_destroy(*prims[i]);
    dnnl_memory_t *mems[] = {&e->w_user, &e->w_fwd, &e->w_bd,   &e->dw_prim, &e->dw_user,
                             &e->bias,   &e->dbias, &e->ws,     &e->scale,   &e->shift,
                             &e->mean,   &e->var,   &e->dscale, &e->dshift};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (*mems[i]) dnnl_memory_destroy(*mems[i]);
    mx_free(e->bmean);
    mx_free(e->bvar);
    mx_free(e->dsc);
    mx_free(e->dsh);
    memset(e, 0, sizeof *e);
}

static void slot_unbuild(mx_plan *p, slot *s) {
    for (int i = 0; i < p->m->n_nodes; i++) nexec_free(&s->ne[i]);
    for (int t = 0; t < p->m->n_tensors; t++) {
        if (s->ma[t]) dnnl_memory_destroy(s->ma[t]);
        if (s->mdf[t]) dnnl_memory_destroy(s->mdf[t]);
        if (s->msc[t]) dnnl_memory_destroy(s->msc[t]);
        s->ma[t] = s->mdf[t] = s->msc[t] = NULL;
    }
    s->n = 0;
    s->dnnl_bytes = 0;
}

void mx_nn_plan_free(mx_plan *p) {
    if (!p) return;
    for (int i = 0; i < p->n_slots; i++) {
        slot *s = &p->s[i];
        slot_unbuild(p, s);
        for (int k = 0; k < s->n_actpool; k++) mx_free(s->actpool[k]);
        for (int k = 0; k < s->n_difpool; k++) mx_free(s->difpool[k]);
        mx_free(s->scratch);
        mx_free(s->P);
        mx_free(s->dP);
        mx_free(s->Y);
        mx_free(s->dY);
        mx_free(s->argmax);
    }
    free(p->s);
    mx_free(p->dw_tmp);
    if (p->strm) dnnl_stream_destroy(p->strm);
    if (p->eng) dnnl_engine_destroy(p->eng);
    free(p);
}

/* Creates one conv weight memory in layout `want` fed from the user (OIHW) weights. */
static mx_status conv_weights(mx_plan *p, nexec *e, const dnnl_memory_desc_t *want,
                              dnnl_memory_t *mem_out, dnnl_primitive_t *reo) {
    const dnnl_memory_desc_t *um = NULL;
    DN(dnnl_memory_get_memory_desc(e->w_user, &um));
    dnnl_memory_desc_t user_md = *um;
    if (dnnl_memory_desc_equal(want, &user_md)) {
        void *h;
        DN(dnnl_memory_get_data_handle(e->w_user, &h));
        return mem(mem_out, want, p->eng, h);
    }
    MX_TRY(mem(mem_out, want, p->eng, NULL));
    return reorder_prim(p, &user_md, want, reo);
}

/* The algorithm asked of conv node nd (mx_conv_algo, nn.h): oneDNN's Winograd (jit_wino_4x3)
 * takes 3x3 stride-1 pad-1 layers with channels in multiples of 16, in fp32 only. */
static dnnl_alg_kind_t conv_alg(const mx_model *m, const mx_node *nd, int bf16) {
    if (bf16) return dnnl_convolution_direct;
    int ic = m->tensor_c[nd->in0], oc = m->tensor_c[nd->out];
    int fits = nd->k == 3 && nd->stride == 1 && nd->pad == 1 && ic % 16 == 0 && oc % 16 == 0;
    return fits && m->cfg.conv_algo == MX_CONV_WINOGRAD ? dnnl_convolution_winograd
                                                        : dnnl_convolution_direct;
}

int mx_nn_conv_winograd_count(const mx_model *m, int pass) {
    if (!m->plan || m->plan->n_slots < 1) return 0;
    const slot *s = &m->plan->s[0];
    int n = 0;
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].kind == MX_NODE_CONV) n += (s->ne[i].wino >> pass) & 1;
    return n;
}

mx_precision mx_model_precision(const mx_model *m) {
    return m->plan ? m->plan->prec : MX_PRECISION_FP32;
}

int mx_model_conv_winograd_count(const mx_model *m) {
    return mx_nn_conv_winograd_count(m, 0);
}

static mx_status build_conv(mx_plan *p, slot *s, const mx_node *nd, nexec *e, int inference) {
    mx_model *m = p->m;
    int ic = m->tensor_c[nd->in0], oc = m->tensor_c[nd->out];
    dnnl_memory_desc_t wany, dwany, wuser, bmd;
    dnnl_dims_t wd = {oc, ic, nd->k, nd->k}, bd = {oc};
    int oh = m->th[nd->out], ow = m->tw[nd->out];
    dnnl_dims_t st = {nd->stride, nd->stride}, pl = {nd->pad, nd->pad};
    dnnl_dims_t pr = {(oh - 1) * nd->stride + nd->k - m->th[nd->in0] - nd->pad,
                      (ow - 1) * nd->stride + nd->k - m->tw[nd->in0] - nd->pad};
    /* kernel weights in the plan's type (bf16: a rounded copy of the float parameters, by the
     * reorder from w_user); weight gradients always float */
    DN(dnnl_memory_desc_init_by_tag(&wany, 4, wd, p->dt, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&dwany, 4, wd, dnnl_f32, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&wuser, 4, wd, dnnl_f32, dnnl_oihw));
    DN(dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x));
    const dnnl_memory_desc_t *bptr = nd->b >= 0 ? &bmd : NULL;
    MX_TRY(mem(&e->w_user, &wuser, p->eng, m->p + nd->w));
    if (nd->b >= 0) MX_TRY(mem(&e->bias, &bmd, p->eng, m->p + nd->b));

    /* each pass asks for conv_alg's algorithm and falls back to direct where oneDNN has none */
    dnnl_alg_kind_t want = conv_alg(m, nd, p->bf16), alg = want;
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t fpd = NULL, pd = NULL;
    for (;;) {
        DN(dnnl_convolution_forward_desc_init(
            &cd, inference ? dnnl_forward_inference : dnnl_forward_training, alg, &s->md[nd->in0],
            &wany, bptr, &s->md[nd->out], st, pl, pr));
        if (dnnl_primitive_desc_create(&fpd, &cd, NULL, p->eng, NULL) == dnnl_success) break;
        if (alg == dnnl_convolution_direct)
            return mx_error(MX_ERR_BACKEND, "nn: oneDNN: no forward convolution %d->%d k%d", ic, oc,
                            nd->k);
        alg = dnnl_convolution_direct;
    }
    e->wino = alg == dnnl_convolution_winograd;
    mx_status rs = MX_OK;
    dnnl_status_t ds = dnnl_primitive_create(&e->fwd, fpd);
    if (ds == dnnl_success)
        rs = conv_weights(p, e, dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0),
                          &e->w_fwd, &e->wr);
    if (ds == dnnl_success && rs == MX_OK && !inference) {
        /* backward data (the input conv's may be unavailable for plain layouts: then it is
         * reported only if a data gradient is requested) */
        dnnl_convolution_desc_t bdd;
        for (alg = want;; alg = dnnl_convolution_direct) {
            ds = dnnl_convolution_backward_data_desc_init(&bdd, alg, &s->md[nd->in0], &wany,
                                                          &s->md[nd->out], st, pl, pr);
            if (ds == dnnl_success) ds = dnnl_primitive_desc_create(&pd, &bdd, NULL, p->eng, fpd);
            if (ds == dnnl_success || alg == dnnl_convolution_direct) break;
        }
        if (ds == dnnl_success) {
            e->wino |= (alg == dnnl_convolution_winograd) << 1;
            ds = dnnl_primitive_create(&e->bwd_d, pd);
            if (ds == dnnl_success)
                rs = conv_weights(p, e, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0),
                                  &e->w_bd, &e->wr_bd);
            dnnl_primitive_desc_destroy(pd);
            pd = NULL;
        } else if (nd->in0 != 0) {
            ds = dnnl_unimplemented;
        } else {
            ds = dnnl_success;
        }
        if (ds == dnnl_success && rs == MX_OK) {
            dnnl_convolution_desc_t bwd;
            for (alg = want;; alg = dnnl_convolution_direct) {
                ds = dnnl_convolution_backward_weights_desc_init(&bwd, alg, &s->md[nd->in0], &dwany,
                                                                 bptr, &s->md[nd->out], st, pl, pr);
                if (ds == dnnl_success)
                    ds = dnnl_primitive_desc_create(&pd, &bwd, NULL, p->eng, fpd);
                if (ds == dnnl_success || alg == dnnl_convolution_direct) break;
            }
            e->wino |= (ds == dnnl_success && alg == dnnl_convolution_winograd) << 2;
            if (ds == dnnl_success) ds = dnnl_primitive_create(&e->bwd_w, pd);
            if (ds == dnnl_success) {
                const dnnl_memory_desc_t *dwm =
                    dnnl_primitive_desc_query_md(pd, dnnl_query_diff_weights_md, 0);
                rs = mem(&e->dw_user, &wuser, p->eng, p->dw_tmp);
                if (rs == MX_OK && dnnl_memory_desc_equal(dwm, &wuser)) {
                    rs = mem(&e->dw_prim, dwm, p->eng, p->dw_tmp);
                } else if (rs == MX_OK) {
                    rs = mem(&e->dw_prim, dwm, p->eng, NULL);
                    if (rs == MX_OK) rs = reorder_prim(p, dwm, &wuser, &e->dwr);
                }
                if (rs == MX_OK && nd->b >= 0) {
                    e->dsc = mx_alloc((size_t)oc * sizeof(float));
                    if (!e->dsc)
                        rs = mx_error(MX_ERR_NOMEM, "nn: out of memory");
                    else
                        rs = mem(&e->dbias, &bmd, p->eng, e->dsc);
                }
            }
        }
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_desc_destroy(fpd);
    if (rs != MX_OK) return rs;
    if (ds != dnnl_success)
        return mx_error(MX_ERR_BACKEND,
                        "nn: oneDNN: cannot create convolution %d->%d k%d (status %d)", ic, oc,
                        nd->k, (int)ds);
    return MX_OK;
}

/* The backward primitive of an initialised op descriptor, hinted by its forward one. */
static dnnl_status_t bwd_prim(mx_plan *p, const_dnnl_op_desc_t desc,
                              const_dnnl_primitive_desc_t fwd, dnnl_primitive_t *out) {
    dnnl_primitive_desc_t pd;
    dnnl_status_t ds = dnnl_primitive_desc_create(&pd, desc, NULL, p->eng, fwd);
    if (ds != dnnl_success) return ds;
    ds = dnnl_primitive_create(out, pd);
    dnnl_primitive_desc_destroy(pd);
    return ds;
}

static unsigned bn_flags(const mx_node *nd, int global) {
    return dnnl_use_scale | dnnl_use_shift | (global ? dnnl_use_global_stats : 0) |
           (nd->relu ? dnnl_fuse_norm_relu : 0);
}

static mx_status build_bn(mx_plan *p, slot *s, const mx_node *nd, nexec *e, int global,
                          int inference) {
    mx_model *m = p->m;
    int c = m->tensor_c[nd->out];
    dnnl_memory_desc_t cmd;
    dnnl_dims_t cd = {c};
    DN(dnnl_memory_desc_init_by_tag(&cmd, 1, cd, dnnl_f32, dnnl_x));
    dnnl_batch_normalization_desc_t bd;
    DN(dnnl_batch_normalization_forward_desc_init(
        &bd, inference ? dnnl_forward_inference : dnnl_forward_training, &s->md[nd->in0],
        m->cfg.bn_eps, bn_flags(nd, global)));
    dnnl_primitive_desc_t fpd;
    DN(dnnl_primitive_desc_create(&fpd, &bd, NULL, p->eng, NULL));
    dnnl_status_t ds = dnnl_primitive_create(&e->fwd, fpd);
    mx_status rs = MX_OK;
    e->bmean = mx_alloc((size_t)c * sizeof(float));
    e->bvar = mx_alloc((size_t)c * sizeof(float));
    e->dsc = mx_alloc((size_t)c * sizeof(float));
    e->dsh = mx_alloc((size_t)c * sizeof(float));
    if (!e->bmean || !e->bvar || !e->dsc || !e->dsh)
        rs = mx_error(MX_ERR_NOMEM, "nn: out of memory");
    if (rs == MX_OK) rs = mem(&e->scale, &cmd, p->eng, m->p + nd->w);
    if (rs == MX_OK) rs = mem(&e->shift, &cmd, p->eng, m->p + nd->b);
    if (rs == MX_OK) rs = mem(&e->mean, &cmd, p->eng, global ? m->st + nd->rm : e->bmean);
    if (rs == MX_OK) rs = mem(&e->var, &cmd, p->eng, global ? m->st + nd->rv : e->bvar);
    if (rs == MX_OK) rs = mem(&e->dscale, &cmd, p->eng, e->dsc);
    if (rs == MX_OK) rs = mem(&e->dshift, &cmd, p->eng, e->dsh);
    if (rs == MX_OK && nd->relu && !inference)
        rs = mem(&e->ws, dnnl_primitive_desc_query_md(fpd, dnnl_query_workspace_md, 0), p->eng,
                 NULL);
    if (ds == dnnl_success && rs == MX_OK && !inference) {
        ds = dnnl_batch_normalization_backward_desc_init(&bd, dnnl_backward, &s->md[nd->out],
                                                         &s->md[nd->in0], m->cfg.bn_eps,
                                                         bn_flags(nd, global));
        if (ds == dnnl_success) ds = bwd_prim(p, &bd, fpd, &e->bwd_d);
    }
    dnnl_primitive_desc_destroy(fpd);
    if (rs != MX_OK) return rs;
    if (ds != dnnl_success)
        return mx_error(MX_ERR_BACKEND, "nn: oneDNN: cannot create batch norm (status %d)",
                        (int)ds);
    return MX_OK;
}

static mx_status build_pool(mx_plan *p, slot *s, const mx_node *nd, nexec *e, int inference) {
    mx_model *m = p->m;
    int oh = m->th[nd->out], ow = m->tw[nd->out];
    dnnl_dims_t st = {nd->stride, nd->stride}, k = {nd->k, nd->k}, pl = {nd->pad, nd->pad};
    dnnl_dims_t pr = {(oh - 1) * nd->stride + nd->k - m->th[nd->in0] - nd->pad,
                      (ow - 1) * nd->stride + nd->k - m->tw[nd->in0] - nd->pad};
    dnnl_pooling_desc_t pdsc;
    DN(dnnl_pooling_forward_desc_init(
        &pdsc, inference ? dnnl_forward_inference : dnnl_forward_training, dnnl_pooling_max,
        &s->md[nd->in0], &s->md[nd->out], st, k, pl, pr));
    dnnl_primitive_desc_t fpd;
    DN(dnnl_primitive_desc_create(&fpd, &pdsc, NULL, p->eng, NULL));
    dnnl_status_t ds = dnnl_primitive_create(&e->fwd, fpd);
    mx_status rs = MX_OK;
    if (ds == dnnl_success && !inference) {
        rs = mem(&e->ws, dnnl_primitive_desc_query_md(fpd, dnnl_query_workspace_md, 0), p->eng,
                 NULL);
        ds = dnnl_pooling_backward_desc_init(&pdsc, dnnl_pooling_max, &s->md[nd->in0],
                                             &s->md[nd->out], st, k, pl, pr);
        if (ds == dnnl_success) ds = bwd_prim(p, &pdsc, fpd, &e->bwd_d);
    }
    dnnl_primitive_desc_destroy(fpd);
    if (rs != MX_OK) return rs;
    if (ds != dnnl_success)
        return mx_error(MX_ERR_BACKEND, "nn: oneDNN: cannot create max pooling (status %d)",
                        (int)ds);
    return MX_OK;
}

/* (Re)creates the primitives and memory objects of slot s for batch n in the model's mode. */
static mx_status slot_build(mx_plan *p, slot *s, int64_t n) {
    mx_model *m = p->m;
    int inference = m->inference || p->inference, global = !m->bn_train || inference;
    int mode = m->bn_train + 2 * inference;
    if (s->n == n && s->mode == mode) return MX_OK;
    slot_unbuild(p, s);
    for (int t = 0; t < m->n_tensors; t++) {
        if (!s->act[t]) continue; /* not in this slot */
        md_tag(&s->md[t], n, m->tensor_c[t], m->th[t], m->tw[t], t == 0 ? dnnl_nchw : p->tag,
               p->dt);
        MX_TRY(mem(&s->ma[t], &s->md[t], p->eng, s->act[t]));
        if (s->dif[t]) MX_TRY(mem(&s->mdf[t], &s->md[t], p->eng, s->dif[t]));
        if (s->scratch) MX_TRY(mem(&s->msc[t], &s->md[t], p->eng, s->scratch));
    }
    for (int i = m->stage_end[s->from]; i < m->n_nodes; i++) {
        const mx_node *nd = &m->nodes[i];
        nexec *e = &s->ne[i];
        mx_status rs = MX_OK;
        if (nd->kind == MX_NODE_CONV)
            rs = build_conv(p, s, nd, e, inference);
        else if (nd->kind == MX_NODE_BN)
            rs = build_bn(p, s, nd, e, global, inference);
        else if (nd->kind == MX_NODE_MAXPOOL)
            rs = build_pool(p, s, nd, e, inference);
        if (rs != MX_OK) {
            slot_unbuild(p, s);
            return rs;
        }
    }
    s->dnnl_bytes = 0;
    for (int i = m->stage_end[s->from]; i < m->n_nodes; i++)
        s->dnnl_bytes += nexec_owned_bytes(&s->ne[i], m->tensor_c[m->nodes[i].out]);
    s->n = n;
    s->mode = mode;
    return MX_OK;
}

/* Allocates slot i's buffers as the layout says. */
static mx_status slot_alloc(mx_plan *p, slot *s, const mx_nn_slot_layout *S) {
    const mx_model *m = p->m;
    int64_t n = S->max_n;
    size_t esz = (size_t)p->L.esz;
    s->max_n = n;
    s->from = S->from;
    s->n_actpool = S->n_act_buf;
    for (int k = 0; k < S->n_act_buf; k++)
        if (!(s->actpool[k] = mx_alloc((size_t)(n * S->act_n[k]) * esz)))
            return mx_error(MX_ERR_NOMEM, "nn: out of memory for activations");
    s->n_difpool = S->n_dif_buf;
    for (int k = 0; k < S->n_dif_buf; k++)
        if (S->dif_n[k] && !(s->difpool[k] = mx_alloc((size_t)(n * S->dif_n[k]) * esz)))
            return mx_error(MX_ERR_NOMEM, "nn: out of memory for gradients");
    for (int t = 0; t < m->n_tensors; t++) {
        s->act[t] = S->act_buf[t] >= 0 ? s->actpool[S->act_buf[t]] : NULL;
        s->dif[t] = S->dif_buf[t] >= 0 ? s->difpool[S->dif_buf[t]] : NULL;
    }
    if (S->scratch_n && !(s->scratch = mx_alloc((size_t)(n * S->scratch_n) * esz)))
        return mx_error(MX_ERR_NOMEM, "nn: out of memory");
    int C = p->L.head_c, d = m->d;
    s->P = mx_alloc((size_t)(n * C) * sizeof(float));
    s->Y = mx_alloc((size_t)(n * d) * sizeof(float));
    s->argmax = mx_alloc((size_t)(n * C) * sizeof(int32_t));
    if (!s->P || !s->Y || !s->argmax) return mx_error(MX_ERR_NOMEM, "nn: out of memory");
    if (!p->inference) {
        s->dP = mx_alloc((size_t)(n * C) * sizeof(float));
        s->dY = mx_alloc((size_t)(n * d) * sizeof(float));
        if (!s->dP || !s->dY) return mx_error(MX_ERR_NOMEM, "nn: out of memory");
    }
    return slot_build(p, s, n);
}

mx_status mx_nn_plan_create(mx_model *m, const mx_plan_config *pc, mx_plan **out) {
    *out = NULL;
    mx_plan *p = calloc(1, sizeof *p);
    if (!p) return mx_error(MX_ERR_NOMEM, "nn: out of memory");
    p->m = m;
    p->s = calloc((size_t)pc->n_slots, sizeof *p->s);
    if (!p->s) {
        free(p);
        return mx_error(MX_ERR_NOMEM, "nn: out of memory");
    }
    p->n_slots = pc->n_slots;
    p->inference = pc->inference != 0;
    p->prec = pc->precision;
    p->bf16 = pc->precision == MX_PRECISION_BF16;
    p->dt = p->bf16 ? dnnl_bf16 : dnnl_f32;
    if (dnnl_engine_create(&p->eng, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&p->strm, p->eng, dnnl_stream_default_flags) != dnnl_success) {
        mx_nn_plan_free(p);
        return mx_error(MX_ERR_BACKEND, "nn: cannot create the oneDNN CPU engine / stream");
    }
    mx_status rs = probe_layout(p);
    for (int t = 1; t < m->n_tensors && rs == MX_OK; t++)
        if (p->blk > 1 && m->tensor_c[t] % p->blk)
            rs = mx_error(MX_ERR_INTERNAL,
                          "nn: %d channels are not a multiple of the layout "
                          "block %d",
                          m->tensor_c[t], p->blk);
    mx_nn_layout_make(m, pc, &p->L);
    if (rs == MX_OK && p->L.dw_n && !(p->dw_tmp = mx_alloc((size_t)p->L.dw_n * sizeof(float))))
        rs = mx_error(MX_ERR_NOMEM, "nn: out of memory");
    for (int i = 0; i < p->n_slots && rs == MX_OK; i++) rs = slot_alloc(p, &p->s[i], &p->L.s[i]);
    if (rs != MX_OK) {
        mx_nn_plan_free(p);
        return rs;
    }
    *out = p;
    return MX_OK;
}

int64_t mx_model_plan_bytes(const mx_model *m) {
    if (!m->plan) return 0;
    int64_t b = mx_nn_layout_bytes(m, &m->plan->L);
    for (int i = 0; i < m->plan->n_slots; i++) b += m->plan->s[i].dnnl_bytes;
    return b;
}

/* ---- forward / backward ------------------------------------------------------------------ */

static void add_into(float *dst, const float *src, int64_t len) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < len; i++) dst[i] += src[i];
}

/* Residual add, o = x0 + x1, then ReLU if relu. Elementwise; o may alias x0 or x1. Branch-free
 * (`omp simd`): a data-dependent branch per element mispredicts on half of a ReLU map. */
static void resadd_fwd(const float *x0, const float *x1, float *o, int64_t len, int relu) {
    if (relu) {
#pragma omp parallel for simd schedule(static)
        for (int64_t k = 0; k < len; k++) {
            float v = x0[k] + x1[k];
            o[k] = v < 0.0f ? 0.0f : v; /* NaN passes */
        }
    } else {
#pragma omp parallel for simd schedule(static)
        for (int64_t k = 0; k < len; k++) o[k] = x0[k] + x1[k];
    }
}

/* Residual add backward: g = relu'(y) dy (relu' = [y > 0 or NaN], as the reference; g = dy
 * without ReLU) is written (acc 0) or added (acc 1) to dx0 and dx1. dx0 may be dy itself (in
 * place, then acc0 = 0), or dx1 (one buffer for both, written once; acc0 = acc1 = 0). dy is
 * loaded unconditionally so that the select vectorises. */
static void resadd_bwd(const float *y, const float *dy, float *dx0, float *dx1, int64_t len,
                       int relu, int acc0, int acc1) {
    if (dx0 == dx1) {
        if (relu) {
#pragma omp parallel for simd schedule(static)
            for (int64_t k = 0; k < len; k++) {
                float d = dy[k];
                dx0[k] = y[k] <= 0.0f ? 0.0f : d;
            }
        } else {
            memcpy(dx0, dy, (size_t)len * sizeof(float));
        }
        return;
    }
#define MX_RESADD_LOOP(G, X0, X1)                                                                  \
    _Pragma("omp parallel for simd schedule(static)") for (int64_t k = 0; k < len; k++) {          \
        float d = dy[k], g = (G);                                                                  \
        dx0[k] = (X0);                                                                             \
        dx1[k] = (X1);                                                                             \
    }
#define MX_RESADD_G(G)                                                                             \
    if (acc0 && acc1) {                                                                            \
        MX_RESADD_LOOP(G, dx0[k] + g, dx1[k] + g)                                                  \
    } else if (acc0) {                                                                             \
        MX_RESADD_LOOP(G, dx0[k] + g, g)                                                           \
    } else if (acc1) {                                                                             \
        MX_RESADD_LOOP(G, g, dx1[k] + g)                                                           \
    } else {                                                                                       \
        MX_RESADD_LOOP(G, g, g)                                                                    \
    }
    if (relu) {
        MX_RESADD_G(y[k] <= 0.0f ? 0.0f : d)
    } else {
        MX_RESADD_G(d)
    }
#undef MX_RESADD_G
#undef MX_RESADD_LOOP
}

/* Where a data gradient for tensor t goes: its diff buffer, or scratch if that already holds a
 * contribution (then finish_diff adds it). */
static dnnl_memory_t diff_target(slot *s, int t) {
    return s->valid[t] ? s->msc[t] : s->mdf[t];
}

static void finish_diff(const mx_plan *p, slot *s, int t) {
    const mx_model *m = p->m;
    if (s->valid[t] && p->bf16)
        mx_bf16_add_into(s->dif[t], s->scratch, s->n * tsize(m, t));
    else if (s->valid[t])
        add_into(s->dif[t], s->scratch, s->n * tsize(m, t));
    s->valid[t] = 1;
}

static mx_status node_fwd(mx_plan *p, slot *s, int i) {
    mx_model *m = p->m;
    const mx_node *nd = &m->nodes[i];
    nexec *e = &s->ne[i];
    switch (nd->kind) {
    case MX_NODE_CONV: {
        if (e->wr && e->ver_fwd != m->pver) {
            MX_TRY(reorder(p, e->wr, e->w_user, e->w_fwd));
            e->ver_fwd = m->pver;
        }
        dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, s->ma[nd->in0]},
                                {DNNL_ARG_WEIGHTS, e->w_fwd},
                                {DNNL_ARG_DST, s->ma[nd->out]},
                                {DNNL_ARG_BIAS, e->bias}};
        return run(p, e->fwd, e->bias ? 4 : 3, a);
    }
    case MX_NODE_BN: {
        dnnl_exec_arg_t a[7] = {{DNNL_ARG_SRC, s->ma[nd->in0]}, {DNNL_ARG_DST, s->ma[nd->out]},
                                {DNNL_ARG_SCALE, e->scale},     {DNNL_ARG_SHIFT, e->shift},
                                {DNNL_ARG_MEAN, e->mean},       {DNNL_ARG_VARIANCE, e->var},
                                {DNNL_ARG_WORKSPACE, e->ws}};
        MX_TRY(run(p, e->fwd, e->ws ? 7 : 6, a));
        if (s->mode == 1) { /* training BN: torch's running-stat update (unbiased variance) */
            int c = m->tensor_c[nd->out];
            double cnt = (double)s->n * m->th[nd->out] * m->tw[nd->out];
            float mom = m->cfg.bn_momentum, unb = cnt > 1 ? (float)(cnt / (cnt - 1)) : 1.0f;
            float *rm = m->st + nd->rm, *rv = m->st + nd->rv;
            for (int ch = 0; ch < c; ch++) {
                rm[ch] = (1 - mom) * rm[ch] + mom * e->bmean[ch];
                rv[ch] = (1 - mom) * rv[ch] + mom * e->bvar[ch] * unb;
            }
        }
        return MX_OK;
    }
    case MX_NODE_MAXPOOL: {
        dnnl_exec_arg_t a[3] = {{DNNL_ARG_SRC, s->ma[nd->in0]},
                                {DNNL_ARG_DST, s->ma[nd->out]},
                                {DNNL_ARG_WORKSPACE, e->ws}};
        return run(p, e->fwd, e->ws ? 3 : 2, a);
    }
    case MX_NODE_ADD: {
        int64_t len = s->n * tsize(m, nd->out);
        if (p->bf16)
            mx_bf16_resadd_fwd(s->act[nd->in0], s->act[nd->in1], s->act[nd->out], len, nd->relu);
        else
            resadd_fwd(s->act[nd->in0], s->act[nd->in1], s->act[nd->out], len, nd->relu);
        return MX_OK;
    }
    }
    return MX_OK;
}

static mx_status node_bwd(mx_plan *p, slot *s, int i, int need_dx) {
    mx_model *m = p->m;
    const mx_node *nd = &m->nodes[i];
    nexec *e = &s->ne[i];
    int need_w = !m->trunk_frozen;
    if (!s->valid[nd->out]) return MX_OK; /* no gradient reached this node */
    switch (nd->kind) {
    case MX_NODE_CONV:
        if (need_w) {
            dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, s->ma[nd->in0]},
                                    {DNNL_ARG_DIFF_DST, s->mdf[nd->out]},
                                    {DNNL_ARG_DIFF_WEIGHTS, e->dw_prim},
                                    {DNNL_ARG_DIFF_BIAS, e->dbias}};
            MX_TRY(run(p, e->bwd_w, e->dbias ? 4 : 3, a));
            if (e->dwr) MX_TRY(reorder(p, e->dwr, e->dw_prim, e->dw_user));
            int64_t numel = (int64_t)m->tensor_c[nd->out] * m->tensor_c[nd->in0] * nd->k * nd->k;
            add_into(m->g + nd->w, p->dw_tmp, numel);
            if (nd->b >= 0)
                for (int c = 0; c < m->tensor_c[nd->out]; c++) m->g[nd->b + c] += e->dsc[c];
        }
        if (need_dx) {
            if (!e->bwd_d)
                return mx_error(MX_ERR_BACKEND, "nn: oneDNN has no backward-data convolution for "
                                                "the plain input layout");
            if (e->wr_bd && e->ver_bd != m->pver) {
                MX_TRY(reorder(p, e->wr_bd, e->w_user, e->w_bd));
                e->ver_bd = m->pver;
            }
            dnnl_exec_arg_t a[3] = {{DNNL_ARG_DIFF_DST, s->mdf[nd->out]},
                                    {DNNL_ARG_WEIGHTS, e->w_bd},
                                    {DNNL_ARG_DIFF_SRC, diff_target(s, nd->in0)}};
            MX_TRY(run(p, e->bwd_d, 3, a));
            finish_diff(p, s, nd->in0);
        }
        return MX_OK;
    case MX_NODE_BN: {
        int want_w = need_w && !m->affine_frozen;
        if (!want_w && !need_dx) return MX_OK;
        int tgt_scratch = !need_dx || s->valid[nd->in0];
        dnnl_exec_arg_t a[10] = {
            {DNNL_ARG_SRC, s->ma[nd->in0]},
            {DNNL_ARG_MEAN, e->mean},
            {DNNL_ARG_VARIANCE, e->var},
            {DNNL_ARG_DIFF_DST, s->mdf[nd->out]},
            {DNNL_ARG_SCALE, e->scale},
            {DNNL_ARG_SHIFT, e->shift},
            {DNNL_ARG_DIFF_SRC, tgt_scratch ? s->msc[nd->in0] : s->mdf[nd->in0]},
            {DNNL_ARG_DIFF_SCALE, e->dscale},
            {DNNL_ARG_DIFF_SHIFT, e->dshift},
            {DNNL_ARG_WORKSPACE, e->ws}};
        MX_TRY(run(p, e->bwd_d, e->ws ? 10 : 9, a));
        if (want_w) {
            int c = m->tensor_c[nd->out];
            for (int ch = 0; ch < c; ch++) {
                m->g[nd->w + ch] += e->dsc[ch];
                m->g[nd->b + ch] += e->dsh[ch];
            }
        }
        if (need_dx) finish_diff(p, s, nd->in0);
        return MX_OK;
    }
    case MX_NODE_MAXPOOL: {
        if (!need_dx) return MX_OK;
        dnnl_exec_arg_t a[3] = {{DNNL_ARG_DIFF_DST, s->mdf[nd->out]},
                                {DNNL_ARG_DIFF_SRC, diff_target(s, nd->in0)},
                                {DNNL_ARG_WORKSPACE, e->ws}};
        MX_TRY(run(p, e->bwd_d, 3, a));
        finish_diff(p, s, nd->in0);
        return MX_OK;
    }
    case MX_NODE_ADD: {
        /* g = relu'(y) dy goes to both inputs; dx0 may be dy itself (in place, see the plan) */
        void *y = s->act[nd->out], *dy = s->dif[nd->out], *dx0 = s->dif[nd->in0],
             *dx1 = s->dif[nd->in1];
        int acc0 = s->valid[nd->in0], acc1 = s->valid[nd->in1];
        int64_t len = s->n * tsize(m, nd->out);
        MX_ASSERT(!(dx0 == dy && acc0) && !(dx0 == dx1 && (acc0 || acc1)));
        if (p->bf16)
            mx_bf16_resadd_bwd(y, dy, dx0, dx1, len, nd->relu, acc0, acc1);
        else
            resadd_bwd(y, dy, dx0, dx1, len, nd->relu, acc0, acc1);
        s->valid[nd->in0] = s->valid[nd->in1] = 1;
        return MX_OK;
    }
    }
    return MX_OK;
}

static mx_status check_call(const mx_model *m, int slot_i, int from, int to, int64_t n) {
    if (!m->plan) return mx_error(MX_ERR_ARG, "nn: mx_model_plan must be called first");
    if (slot_i < 0 || slot_i >= m->plan->n_slots)
        return mx_error(MX_ERR_ARG, "nn: slot %d out of range (planned %d)", slot_i,
                        m->plan->n_slots);
    if (n < 1 || n > m->plan->s[slot_i].max_n)
        return mx_error(MX_ERR_ARG, "nn: batch %lld out of range 1..%lld (planned)", (long long)n,
                        (long long)m->plan->s[slot_i].max_n);
    if (from < m->plan->s[slot_i].from)
        return mx_error(MX_ERR_ARG, "nn: slot %d was planned from stage %d; cannot run from %d",
                        slot_i, m->plan->s[slot_i].from, from);
    if (from < 0 || from > m->n_stages ||
        (to != MX_STAGE_EMBED && (to <= from || to > m->n_stages)))
        return mx_error(MX_ERR_ARG,
                        "nn: stages (%d, %d] invalid: expected 0 <= from < to <= %d "
                        "or to = MX_STAGE_EMBED",
                        from, to, m->n_stages);
    return MX_OK;
}

mx_status mx_model_forward(mx_model *m, int slot_i, int from, int to, const float *in, int64_t n,
                           float *out) {
    MX_TRY(check_call(m, slot_i, from, to, n));
    mx_plan *p = m->plan;
    slot *s = &p->s[slot_i];
    MX_TRY(slot_build(p, s, n));
    int tf = m->stage_tensor[from], last = to == MX_STAGE_EMBED ? m->n_stages : to;
    int64_t insz = n * tsize(m, tf);
    if (in && in != s->act[tf] && p->bf16)
        mx_bf16_pack(in, s->act[tf], insz);
    else if (in && in != s->act[tf])
        memcpy(s->act[tf], in, (size_t)insz * sizeof(float));
    for (int i = m->stage_end[from]; i < m->stage_end[last]; i++) MX_TRY(node_fwd(p, s, i));
    int tl = m->stage_tensor[last];
    if (to != MX_STAGE_EMBED) {
        if (out && out != s->act[tl] && p->bf16)
            mx_bf16_unpack(s->act[tl], out, n * tsize(m, tl));
        else if (out && out != s->act[tl])
            memcpy(out, s->act[tl], (size_t)(n * tsize(m, tl)) * sizeof(float));
        return MX_OK;
    }
    int C = m->tensor_c[tl], hw = m->th[tl] * m->tw[tl], d = m->d;
    if (p->bf16)
        mx_bf16_gapgmp_fwd(s->act[tl], n, C, C, hw, p->blk ? p->blk : C, s->P, s->argmax);
    else
        mx_nn_gapgmp_fwd(s->act[tl], n, C, C, hw, p->blk ? p->blk : C, s->P, s->argmax);
    mx_sgemm(0, 1, n, d, C, 1.0f, s->P, C, m->p + m->emb_w, C, 0.0f, s->Y, d);
    mx_nn_bias_l2norm_fwd(s->Y, n, d, m->p + m->emb_b, out);
    return MX_OK;
}

mx_status mx_model_backward(mx_model *m, int slot_i, int from, int to, const float *dout,
                            float *din) {
    mx_plan *p = m->plan;
    MX_TRY(check_call(m, slot_i, from, to, 1));
    slot *s = &p->s[slot_i];
    if (p->inference) return mx_error(MX_ERR_ARG, "nn: backward on an inference-only plan");
    if (s->mode & 2) return mx_error(MX_ERR_ARG, "nn: backward after an inference-mode forward");
    int64_t n = s->n;
    int last = to == MX_STAGE_EMBED ? m->n_stages : to;
    int tl = m->stage_tensor[last], tf = m->stage_tensor[from];
    memset(s->valid, 0, sizeof s->valid);
    if (to == MX_STAGE_EMBED) {
        int C = m->tensor_c[tl], hw = m->th[tl] * m->tw[tl], d = m->d;
        mx_nn_l2norm_bwd(s->Y, n, d, dout, s->dY);
        mx_sgemm(1, 0, d, C, n, 1.0f, s->dY, d, s->P, C, 1.0f, m->g + m->emb_w, C);
        for (int64_t i = 0; i < n; i++)
            for (int j = 0; j < d; j++) m->g[m->emb_b + j] += s->dY[i * d + j];
        if (!din && (m->trunk_frozen || from == last)) return MX_OK;
        mx_sgemm(0, 0, n, C, d, 1.0f, s->dY, d, m->p + m->emb_w, C, 0.0f, s->dP, C);
        if (p->bf16)
            mx_bf16_gapgmp_bwd(n, C, C, hw, p->blk ? p->blk : C, s->argmax, s->dP, s->dif[tl]);
        else
            mx_nn_gapgmp_bwd(n, C, C, hw, p->blk ? p->blk : C, s->argmax, s->dP, s->dif[tl]);
    } else if (p->bf16) {
        mx_bf16_pack(dout, s->dif[tl], n * tsize(m, tl));
    } else if (dout != s->dif[tl]) {
        memcpy(s->dif[tl], dout, (size_t)(n * tsize(m, tl)) * sizeof(float));
    }
    s->valid[tl] = 1;
    if (!(m->trunk_frozen && !din)) {
        for (int i = m->stage_end[last] - 1; i >= m->stage_end[from]; i--) {
            const mx_node *nd = &m->nodes[i];
            int need_dx = nd->in0 != tf || din != NULL;
            if (nd->kind == MX_NODE_ADD) need_dx = 1;
            MX_TRY(node_bwd(p, s, i, need_dx));
            if (m->grad_hook && nd->w >= 0) m->grad_hook(m->grad_hook_ctx, nd->w);
        }
    }
    if (din && s->valid[tf] && p->bf16)
        mx_bf16_add_to_f32(din, s->dif[tf], n * tsize(m, tf));
    else if (din && s->valid[tf] && din != s->dif[tf])
        add_into(din, s->dif[tf], n * tsize(m, tf));
    return MX_OK;
}

void mx_model_set_grad_hook(mx_model *m, mx_grad_hook fn, void *ctx) {
    m->grad_hook = fn, m->grad_hook_ctx = ctx;
}

int mx_model_node_param_offsets(const mx_model *m, int64_t *offs, int cap) {
    int k = 0;
    for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].w >= 0) {
            if (k < cap) offs[k] = m->nodes[i].w;
            k++;
        }
    return k;
}

int mx_model_grad_offsets_ordered(const mx_model *m) {
    int64_t last = -1;
    for (int i = 0; i < m->n_nodes; i++) {
        const mx_node *nd = &m->nodes[i];
        if (nd->w < 0) continue;
        if (nd->w <= last || (nd->b >= 0 && nd->b < nd->w)) return 0;
        last = nd->b >= 0 ? nd->b : nd->w;
    }
    return last < m->emb_w; /* the head's parameters last */
}

static const slot *stage_slot(const mx_model *m, int slot_i, int stage) {
    const mx_plan *p = m->plan;
    if (!p || p->bf16 || p->inference || slot_i < 0 || slot_i >= p->n_slots || stage < 1 ||
        stage > m->n_stages || stage < p->s[slot_i].from)
        return NULL;
    return &p->s[slot_i];
}

const float *mx_model_stage_map(const mx_model *m, int slot_i, int stage) {
    const slot *s = stage_slot(m, slot_i, stage);
    return s ? (const float *)s->act[m->stage_tensor[stage]] : NULL;
}

float *mx_model_stage_grad(mx_model *m, int slot_i, int stage) {
    const slot *s = stage_slot(m, slot_i, stage);
    return s ? (float *)s->dif[m->stage_tensor[stage]] : NULL;
}

static int64_t blk_index(const mx_plan *p, int c, int hw, int64_t i, int ch, int sp) {
    int b = p->blk ? p->blk : c;
    return i * (int64_t)c * hw + (int64_t)(ch / b) * hw * b + (int64_t)sp * b + ch % b;
}

void mx_nn_to_nchw(const mx_model *m, int stage, int64_t n, const float *src, float *dst) {
    int t = m->stage_tensor[stage], c = m->tensor_c[t], hw = m->th[t] * m->tw[t];
    for (int64_t i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int sp = 0; sp < hw; sp++)
                dst[(i * c + ch) * hw + sp] = t == 0 ? src[(i * c + ch) * hw + sp]
                                                     : src[blk_index(m->plan, c, hw, i, ch, sp)];
}

void mx_nn_from_nchw(const mx_model *m, int stage, int64_t n, const float *src, float *dst) {
    int t = m->stage_tensor[stage], c = m->tensor_c[t], hw = m->th[t] * m->tw[t];
    for (int64_t i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int sp = 0; sp < hw; sp++)
                dst[t == 0 ? (i * c + ch) * hw + sp : blk_index(m->plan, c, hw, i, ch, sp)] =
                    src[(i * c + ch) * hw + sp];
}
