#!/usr/bin/python3
"""Reference trajectories of torch.optim SGD / Adam / AdamW for tests/test_optim.c.

Problem: two buffers, "model" (n0 = 30: trunk [0,20) with weight decay, head [20,30)) and
"proxies" (n1 = 12, lr multiplier 100). Gradients are explicit, g = a * (p - c) in float32 (no
autograd), so C computes bit-identical gradients. The trunk is frozen (grad None) for the first
FROZEN steps, as in the Metrix warm-up. Each scenario sets the lr from a torch scheduler, clips,
then steps; the fixture records every group's lr and all parameters after each step.

Run: /usr/bin/python3 tests/ref/optim_torch_ref.py > tests/fixtures/optim/optim_ref.txt
"""
import numpy as np
import torch

N0, N1, STEPS, FROZEN = 30, 12, 12, 3
rng = np.random.default_rng(20221)
p0 = rng.standard_normal(N0).astype(np.float32)
p1 = rng.standard_normal(N1).astype(np.float32)
a0 = rng.uniform(0.5, 3.0, N0).astype(np.float32)
a1 = rng.uniform(0.5, 3.0, N1).astype(np.float32)
c0 = (3 * rng.standard_normal(N0)).astype(np.float32)
c1 = (3 * rng.standard_normal(N1)).astype(np.float32)

# name, optimizer, base lr, trunk weight decay, extra kwargs, schedule, clip
SCENARIOS = [
    ("sgd_momentum_step_clipvalue", "sgd", 0.002, 1e-2, dict(momentum=0.9), "step", ("value", 5.0)),
    ("sgd_nesterov_cosine_clipnorm", "sgd", 0.002, 1e-2, dict(momentum=0.9, nesterov=True),
     "cosine", ("norm", 3.0)),
    ("sgd_plain", "sgd", 0.002, 5e-2, dict(), "none", None),
    ("adam_warmup_step_clipvalue", "adam", 0.01, 1e-2, dict(), "warmup_step", ("value", 5.0)),
    ("adamw_cosine_clipnorm", "adamw", 0.01, 5e-2, dict(), "cosine", ("norm", 3.0)),
    ("adam_warmup_cosine", "adam", 0.01, 1e-4, dict(), "warmup_cosine", None),
]


def run(kind, lr, wd, kw, sched, clip):
    trunk = torch.nn.Parameter(torch.from_numpy(p0[:20].copy()))
    head = torch.nn.Parameter(torch.from_numpy(p0[20:].copy()))
    prox = torch.nn.Parameter(torch.from_numpy(p1.copy()))
    groups = [dict(params=[trunk], lr=lr, weight_decay=wd),
              dict(params=[head], lr=lr, weight_decay=0.0),
              dict(params=[prox], lr=lr * 100, weight_decay=0.0)]
    if kind == "sgd":
        opt = torch.optim.SGD(groups, lr=lr, **kw)
    elif kind == "adam":
        opt = torch.optim.Adam(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    else:
        opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    S = torch.optim.lr_scheduler
    if sched == "step":
        sch = S.StepLR(opt, step_size=4, gamma=0.5)
    elif sched == "cosine":
        sch = S.CosineAnnealingLR(opt, T_max=STEPS, eta_min=0.0)
    elif sched == "warmup_step":
        sch = S.ChainedScheduler([S.LinearLR(opt, start_factor=0.25, total_iters=4),
                                  S.StepLR(opt, step_size=5, gamma=0.5)])
    elif sched == "warmup_cosine":
        sch = S.LambdaLR(opt, lambda t: (0.25 + 0.75 * min(t, 4) / 4) *
                         (1 + np.cos(np.pi * t / STEPS)) / 2)
    else:
        sch = None
    a0t, c0t = torch.from_numpy(a0), torch.from_numpy(c0)
    a1t, c1t = torch.from_numpy(a1), torch.from_numpy(c1)
    out = []
    for k in range(STEPS):
        with torch.no_grad():
            trunk.grad = None if k < FROZEN else a0t[:20] * (trunk - c0t[:20])
            head.grad = a0t[20:] * (head - c0t[20:])
            prox.grad = a1t * (prox - c1t)
        params = [p for p in (trunk, head, prox) if p.grad is not None]
        if clip and clip[0] == "value":
            torch.nn.utils.clip_grad_value_(params, clip[1])
        elif clip:
            torch.nn.utils.clip_grad_norm_(params, clip[1])
        lrs = [g["lr"] for g in opt.param_groups]
        opt.step()
        if sch is not None:
            sch.step()
        p = torch.cat([trunk.detach(), head.detach(), prox.detach()]).numpy()
        out.append((lrs, p.copy()))
    return out


def fmt(v):
    return " ".join("%.9g" % x for x in v)


print("optim_ref 1 %d %d %d %d %d" % (N0, N1, STEPS, FROZEN, len(SCENARIOS)))
for arr in (p0, p1, a0, a1, c0, c1):
    print(fmt(arr))
for name, kind, lr, wd, kw, sched, clip in SCENARIOS:
    print("scenario", name)
    for lrs, p in run(kind, lr, wd, kw, sched, clip):
        print(" ".join("%.17g" % x for x in lrs))
        print(fmt(p))
