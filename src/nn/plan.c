/* The memory layout of a plan: which buffer each activation and each activation gradient of a
 * slot lives in, and how big every buffer is. Pure bookkeeping over the node graph (no oneDNN):
 * exec.c allocates what mx_nn_layout_make decides, and mx_nn_plan_size counts the same bytes
 * without allocating (the trainer's memory check, mx_model_plan_estimate).
 *
 * Training slots keep every activation (backward reads them) except that a residual add writes
 * over its residual-branch input when nothing else reads it; gradients share a few buffers
 * assigned by a liveness walk over the backward order. Inference slots share activation buffers
 * by a liveness walk over the forward order. */
#include <string.h>

#include "nn/nn_impl.h"

static int64_t tsz(const mx_model *m, int t) {
    return (int64_t)m->tensor_c[t] * m->th[t] * m->tw[t];
}

/* Global (slot-independent) part of a training plan: the gradient buffer of every tensor (a
 * liveness walk over the backward order; -1: none) and the activation aliases of the in-place
 * residual adds. */
static void train_global(const mx_model *m, mx_nn_layout *L) {
    /* A buffer is released (refs[b] -> 0) when the backward of every tensor sharing it has run */
    int n_buf = 0, free_list[MX_NN_T_MAX], n_free = 0, refs[MX_NN_T_MAX] = {0};
    for (int t = 0; t < m->n_tensors; t++) L->dif_of[t] = -1;
    int tl = m->stage_tensor[m->n_stages];
#define ASSIGN(t)                                                                                  \
    do {                                                                                           \
        if ((t) > 0 && L->dif_of[t] < 0) {                                                         \
            int b_ = n_free ? free_list[--n_free] : n_buf++;                                       \
            L->dif_of[t] = b_;                                                                     \
            refs[b_] = 1;                                                                          \
        }                                                                                          \
    } while (0)
#define RELEASE(t)                                                                                 \
    do {                                                                                           \
        int b_ = L->dif_of[t];                                                                     \
        if (b_ >= 0 && --refs[b_] == 0) free_list[n_free++] = b_;                                  \
    } while (0)
    int n_use[MX_NN_T_MAX] = {0};
    for (int i = 0; i < m->n_nodes; i++) {
        n_use[m->nodes[i].in0]++;
        if (m->nodes[i].kind == MX_NODE_ADD) n_use[m->nodes[i].in1]++;
    }
    ASSIGN(tl);
    for (int i = m->n_nodes - 1; i >= 0; i--) {
        const mx_node *nd = &m->nodes[i];
        if (nd->kind == MX_NODE_ADD && nd->in0 > 0 && nd->in0 != nd->in1 && n_use[nd->in0] == 1 &&
            L->dif_of[nd->in0] < 0) {
            if (nd->in1 > 0 && L->dif_of[nd->in1] < 0) {
                /* no gradient has reached x1 yet (its other consumers run later in backward):
                 * both inputs get the same g = relu'(y) dy, written once into one buffer */
                ASSIGN(nd->in1);
                L->dif_of[nd->in0] = L->dif_of[nd->in1];
                refs[L->dif_of[nd->in1]]++;
                RELEASE(nd->out);
            } else {
                /* the residual branch's gradient is computed in place in the add's output
                 * gradient */
                L->dif_of[nd->in0] = L->dif_of[nd->out];
                ASSIGN(nd->in1);
            }
            continue;
        }
        ASSIGN(nd->in0);
        if (nd->kind == MX_NODE_ADD) ASSIGN(nd->in1);
        RELEASE(nd->out);
    }
#undef RELEASE
#undef ASSIGN
    L->n_dif_buf = n_buf;
    /* A residual add writes its output over its residual-branch input x0 when nothing else
     * reads x0: x0 is used by the add alone, is no stage output, and comes from a conv or BN,
     * whose backward passes read their input (and workspace) but never their output. Saves a
     * buffer and a write-allocate per add (ResNet-50, batch 32: 700 MB). */
    int is_stage[MX_NN_T_MAX] = {0};
    for (int k = 0; k <= m->n_stages; k++) is_stage[m->stage_tensor[k]] = 1;
    for (int t = 0; t < m->n_tensors; t++) L->act_of[t] = t;
    for (int i = 0; i < m->n_nodes; i++) {
        const mx_node *nd = &m->nodes[i];
        if (nd->kind != MX_NODE_ADD || nd->in0 == nd->in1 || nd->in0 == 0 || n_use[nd->in0] != 1 ||
            is_stage[nd->in0] || L->act_of[nd->in0] != nd->in0)
            continue;
        for (int j = 0; j < i; j++)
            if (m->nodes[j].out == nd->in0 &&
                (m->nodes[j].kind == MX_NODE_CONV || m->nodes[j].kind == MX_NODE_BN))
                L->act_of[nd->out] = nd->in0;
    }
}

/* Tensors slot s touches: the stage map it starts from, and everything the nodes after it read
 * or write. */
static void slot_needed(const mx_model *m, int from, int *needed) {
    memset(needed, 0, sizeof(int) * MX_NN_T_MAX);
    needed[m->stage_tensor[from]] = 1;
    for (int i = m->stage_end[from]; i < m->n_nodes; i++) {
        const mx_node *nd = &m->nodes[i];
        needed[nd->in0] = needed[nd->out] = 1;
        if (nd->kind == MX_NODE_ADD) needed[nd->in1] = 1;
    }
}

static void slot_train(const mx_model *m, const mx_nn_layout *L, mx_nn_slot_layout *S) {
    int needed[MX_NN_T_MAX];
    slot_needed(m, S->from, needed);
    S->n_act_buf = 0;
    for (int t = 0; t < m->n_tensors; t++) {
        S->act_buf[t] = -1;
        if (!needed[t]) continue;
        int a = L->act_of[t];
        if (a != t && needed[a]) {
            S->act_buf[t] = S->act_buf[a];
        } else {
            S->act_buf[t] = S->n_act_buf;
            S->act_n[S->n_act_buf++] = tsz(m, t);
        }
    }
    /* gradient buffers: the global assignment, each sized for the largest tensor of this slot
     * that uses it (0: unused here); the input has its own plain one */
    S->n_dif_buf = L->n_dif_buf + 1;
    for (int k = 0; k < S->n_dif_buf; k++) S->dif_n[k] = 0;
    S->scratch_n = 0;
    for (int t = 0; t < m->n_tensors; t++) {
        S->dif_buf[t] = -1;
        if (!needed[t]) continue;
        int k = t == 0 ? L->n_dif_buf : L->dif_of[t];
        if (k < 0) continue;
        S->dif_buf[t] = k;
        S->dif_n[k] = MX_MAX(S->dif_n[k], tsz(m, t));
        S->scratch_n = MX_MAX(S->scratch_n, tsz(m, t));
    }
    if (S->from == m->n_stages) S->scratch_n = 0; /* the head alone accumulates nothing */
}

/* Inference: a buffer is handed to a tensor when its producer runs and returned once its last
 * reader has run. Best fit: the smallest free buffer that holds it, else the largest free one
 * (grown), else a new one. Residual adds and batch norms write over an input whose last use they
 * are (both are elementwise; oneDNN's batch norm runs in place). */
static void slot_infer(const mx_model *m, mx_nn_slot_layout *S) {
    int needed[MX_NN_T_MAX], last[MX_NN_T_MAX], is_free[MX_NN_T_MAX] = {0};
    slot_needed(m, S->from, needed);
    for (int t = 0; t < m->n_tensors; t++) last[t] = -1, S->act_buf[t] = S->dif_buf[t] = -1;
    for (int i = m->stage_end[S->from]; i < m->n_nodes; i++) {
        last[m->nodes[i].in0] = i;
        if (m->nodes[i].kind == MX_NODE_ADD) last[m->nodes[i].in1] = i;
    }
    S->n_act_buf = 0;
#define TAKE(t)                                                                                    \
    do {                                                                                           \
        int64_t need_ = tsz(m, t);                                                                 \
        int fit_ = -1, big_ = -1;                                                                  \
        for (int b_ = 0; b_ < S->n_act_buf; b_++) {                                                \
            if (!is_free[b_]) continue;                                                            \
            if (S->act_n[b_] >= need_ && (fit_ < 0 || S->act_n[b_] < S->act_n[fit_])) fit_ = b_;   \
            if (big_ < 0 || S->act_n[b_] > S->act_n[big_]) big_ = b_;                              \
        }                                                                                          \
        int b_ = fit_ >= 0 ? fit_ : big_;                                                          \
        if (b_ < 0) b_ = S->n_act_buf++, S->act_n[b_] = 0;                                         \
        S->act_n[b_] = MX_MAX(S->act_n[b_], need_);                                                \
        is_free[b_] = 0;                                                                           \
        S->act_buf[t] = b_;                                                                        \
    } while (0)
    TAKE(m->stage_tensor[S->from]);
    for (int i = m->stage_end[S->from]; i < m->n_nodes; i++) {
        const mx_node *nd = &m->nodes[i];
        int ins[2] = {nd->in0, nd->kind == MX_NODE_ADD ? nd->in1 : -1}, took = 0;
        if (nd->kind == MX_NODE_ADD || nd->kind == MX_NODE_BN) {
            for (int k = 0; k < 2 && !took; k++) {
                int x = ins[k];
                if (x < 0 || last[x] != i || (k == 1 && x == ins[0])) continue;
                if (nd->kind == MX_NODE_ADD && ins[1 - k] == x) continue;
                S->act_buf[nd->out] = S->act_buf[x];
                ins[k] = -1; /* its buffer lives on as the output's */
                took = 1;
            }
        }
        if (!took) TAKE(nd->out);
        for (int k = 0; k < 2; k++) {
            int x = ins[k];
            if (x < 0 || last[x] != i || (k == 1 && x == ins[0])) continue;
            is_free[S->act_buf[x]] = 1;
        }
    }
#undef TAKE
    S->n_dif_buf = 0;
    S->scratch_n = 0;
}

void mx_nn_layout_make(const mx_model *m, const mx_plan_config *pc, mx_nn_layout *L) {
    memset(L, 0, sizeof *L);
    L->inference = pc->inference != 0;
    L->esz = pc->precision == MX_PRECISION_BF16 ? 2 : (int)sizeof(float);
    L->n_slots = pc->n_slots;
    if (!L->inference) train_global(m, L);
    int tl = m->stage_tensor[m->n_stages];
    L->head_c = m->tensor_c[tl];
    L->dw_n = 0;
    if (!L->inference)
        for (int i = 0; i < m->n_ptab; i++)
            if (m->params[i].kind == MX_PARAM_CONV_WEIGHT)
                L->dw_n = MX_MAX(L->dw_n, m->params[i].numel);
    for (int i = 0; i < pc->n_slots; i++) {
        mx_nn_slot_layout *S = &L->s[i];
        S->from = pc->from_stage[i];
        S->max_n = pc->max_batch[i];
        if (L->inference)
            slot_infer(m, S);
        else
            slot_train(m, L, S);
    }
}

/* Per example: pooled (C) and linear output (d), C argmax indices; their gradients in training. */
int64_t mx_nn_layout_head_bytes(const mx_model *m, const mx_nn_layout *L) {
    int64_t f = (int64_t)L->head_c + m->d;
    return (L->inference ? f : 2 * f) * (int64_t)sizeof(float) +
           (int64_t)L->head_c * (int64_t)sizeof(int32_t);
}

int64_t mx_nn_layout_bytes(const mx_model *m, const mx_nn_layout *L) {
    int64_t total = L->dw_n * (int64_t)sizeof(float);
    for (int i = 0; i < L->n_slots; i++) {
        const mx_nn_slot_layout *S = &L->s[i];
        int64_t per = S->scratch_n;
        for (int k = 0; k < S->n_act_buf; k++) per += S->act_n[k];
        for (int k = 0; k < S->n_dif_buf; k++) per += S->dif_n[k];
        total += S->max_n * (per * L->esz + mx_nn_layout_head_bytes(m, L));
    }
    return total;
}

mx_status mx_nn_plan_size(const mx_model *m, const mx_plan_config *pc, int64_t *bytes) {
    mx_nn_layout *L = mx_alloc(sizeof *L);
    if (!L) return mx_error(MX_ERR_NOMEM, "nn: out of memory");
    mx_nn_layout_make(m, pc, L);
    *bytes = mx_nn_layout_bytes(m, L);
    mx_free(L);
    return MX_OK;
}
