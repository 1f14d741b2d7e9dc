/* metrix optim: learning-rate factors (StepLR, cosine annealing, linear warm-up), as torch's
 * closed forms. */
#include <math.h>

#include "metrix/optim.h"

mx_lr_schedule mx_lr_schedule_default(void) {
    mx_lr_schedule s;
    s.kind = MX_LR_STEP;
    s.step_size = 10;
    s.gamma = 0.5;
    s.t_max = 60;
    s.eta_min_factor = 0.0;
    s.warmup_iters = 0;
    s.warmup_start = 1.0 / 3.0;
    return s;
}

mx_status mx_lr_schedule_check(const mx_lr_schedule *s) {
    if (!s) return mx_error(MX_ERR_ARG, "mx_lr_schedule_check: NULL schedule");
    if (s->kind != MX_LR_CONSTANT && s->kind != MX_LR_STEP && s->kind != MX_LR_COSINE)
        return mx_error(MX_ERR_CONFIG, "lr schedule: kind = %d: expected constant, step or cosine",
                        (int)s->kind);
    if (s->kind == MX_LR_STEP && s->step_size <= 0)
        return mx_error(MX_ERR_CONFIG, "lr schedule: step_size = %lld: expected > 0",
                        (long long)s->step_size);
    if (s->kind == MX_LR_STEP && !(s->gamma > 0 && s->gamma <= 1))
        return mx_error(MX_ERR_CONFIG, "lr schedule: gamma = %g: expected 0 < gamma <= 1",
                        s->gamma);
    if (s->kind == MX_LR_COSINE && s->t_max <= 0)
        return mx_error(MX_ERR_CONFIG, "lr schedule: t_max = %lld: expected > 0",
                        (long long)s->t_max);
    if (s->kind == MX_LR_COSINE && !(s->eta_min_factor >= 0 && s->eta_min_factor <= 1))
        return mx_error(MX_ERR_CONFIG, "lr schedule: eta_min_factor = %g: expected in [0, 1]",
                        s->eta_min_factor);
    if (s->warmup_iters < 0)
        return mx_error(MX_ERR_CONFIG, "lr schedule: warmup_iters = %lld: expected >= 0",
                        (long long)s->warmup_iters);
    if (s->warmup_iters > 0 && !(s->warmup_start > 0 && s->warmup_start <= 1))
        return mx_error(MX_ERR_CONFIG, "lr schedule: warmup_start = %g: expected in (0, 1]",
                        s->warmup_start);
    return MX_OK;
}

double mx_lr_factor(const mx_lr_schedule *s, int64_t t) {
    if (t < 0) t = 0;
    double f = 1.0;
    switch (s->kind) {
    case MX_LR_STEP:
        f = pow(s->gamma, (double)(t / s->step_size));
        break;
    case MX_LR_COSINE: {
        const double pi = 3.14159265358979323846;
        /* torch's closed form; past t_max the cosine keeps going (period 2 t_max) */
        f = s->eta_min_factor +
            (1.0 - s->eta_min_factor) * (1.0 + cos(pi * (double)t / (double)s->t_max)) / 2.0;
        break;
    }
    default:
        break;
    }
    if (s->warmup_iters > 0) {
        int64_t w = t < s->warmup_iters ? t : s->warmup_iters;
        f *= s->warmup_start + (1.0 - s->warmup_start) * (double)w / (double)s->warmup_iters;
    }
    return f;
}
