"""PyTorch / torchvision side of tests/test_data_bench_slow.c: the same synthetic 500x375 and
1000x750 JPEGs (q90), decoded with PIL and pushed through the official Metrix transforms, one
thread; then a DataLoader epoch with 0 and 2 workers. Run: /usr/bin/python3
tests/ref/data_bench_torch.py [dir]  (dir: where to write the images, default /tmp/mx_data_bench)"""
import os
import sys
import time

import numpy as np
import torch
from PIL import Image
import torchvision.transforms as T

torch.set_num_threads(1)
d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/mx_data_bench"
os.makedirs(d, exist_ok=True)


def photo_like(w, h, i, half=False):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    if half:
        x, y = np.floor(x / 2), np.floor(y / 2)
    out = np.zeros((h, w, 3), np.uint8)
    for k in range(3):
        v = 120 + 60 * np.sin(x / (17.0 + i) + k) + 45 * np.cos(y / 23.0 - k) + \
            (x * 7 + y * 13) % 11
        out[..., k] = np.clip(v, 0, 255).astype(np.uint8)
    return out


paths = []
for i in range(64):
    p = os.path.join(d, "%02d.jpg" % i)
    Image.fromarray(photo_like(500, 375, i)).save(p, quality=90)
    paths.append(p)
big = os.path.join(d, "big.jpg")
Image.fromarray(photo_like(1000, 750, 0, half=True)).save(big, quality=90)

norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
train = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), norm])
test = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), norm])


def rate(fn, items, reps=3):
    t0 = time.perf_counter()
    for _ in range(reps):
        for p in items:
            fn(p)
    return reps * len(items) / (time.perf_counter() - t0)


print("PIL decode + RRC224 + flip             %8.1f images/s" %
      rate(lambda p: train(Image.open(p).convert("RGB")), paths))
print("PIL decode + resize256 + crop224       %8.1f images/s" %
      rate(lambda p: test(Image.open(p).convert("RGB")), paths))
print("1000x750: PIL decode + resize256 + crop224 %8.1f images/s" %
      rate(lambda p: test(Image.open(p).convert("RGB")), [big] * 40, reps=1))


class DS(torch.utils.data.Dataset):
    def __len__(self):
        return len(paths)

    def __getitem__(self, i):
        return train(Image.open(paths[i]).convert("RGB")), i % 8


for workers in (0, 2):
    dl = torch.utils.data.DataLoader(DS(), batch_size=16, shuffle=True, drop_last=True,
                                     num_workers=workers)
    t0 = time.perf_counter()
    n = 0
    for _ in range(3):
        for x, y in dl:
            n += x.shape[0]
    print("DataLoader, %d workers, batch 16, RRC224 %8.1f images/s" %
          (workers, n / (time.perf_counter() - t0)))
