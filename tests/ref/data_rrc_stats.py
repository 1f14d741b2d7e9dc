"""Distribution of torchvision 0.14 RandomResizedCrop.get_params (scale 0.08-1, ratio 3/4-4/3)
for a few image sizes, for tests/test_data_image.c: the RNGs differ, so the C test compares
statistics. For each size: 200,000 draws; mean and quartiles of the crop's area fraction and of
log(w / h), the fallback rate (the 10 attempts all failed: the centre crop), and the mean of the
crop's top-left corner. Run: /usr/bin/python3 tests/ref/data_rrc_stats.py > tests/fixtures/data/rrc_stats.txt
Output lines: `W H mean_area q25_area q50_area q75_area mean_logr q25_logr q50_logr q75_logr
fallback_rate mean_top mean_left`."""
import math
import numpy as np
import torch
from torchvision.transforms import RandomResizedCrop

torch.manual_seed(0)
N = 200000
for W, H in [(300, 200), (500, 375), (300, 40), (64, 64)]:
    img = torch.zeros(1, H, W)
    area, logr, tops, lefts, fb = [], [], [], [], 0
    in_ratio = W / H
    if in_ratio < 3 / 4:
        fbw, fbh = W, int(round(W / (3 / 4)))
    elif in_ratio > 4 / 3:
        fbw, fbh = int(round(H * (4 / 3))), H
    else:
        fbw, fbh = W, H
    for _ in range(N):
        i, j, h, w = RandomResizedCrop.get_params(img, [0.08, 1.0], [3 / 4, 4 / 3])
        area.append(h * w / (W * H))
        logr.append(math.log(w / h))
        tops.append(i)
        lefts.append(j)
        # a successful attempt can produce the fallback's shape too; count exact centre crops
        # of the fallback shape only for the narrow image, where attempts rarely succeed
        fb += (h == fbh and w == fbw and i == (H - fbh) // 2 and j == (W - fbw) // 2)
    a, r = np.array(area), np.array(logr)
    print("%d %d %.6f %.6f %.6f %.6f %.6f %.6f %.6f %.6f %.6f %.6f %.6f" % (
        W, H, a.mean(), *np.quantile(a, [0.25, 0.5, 0.75]), r.mean(),
        *np.quantile(r, [0.25, 0.5, 0.75]), fb / N, np.mean(tops), np.mean(lefts)))
