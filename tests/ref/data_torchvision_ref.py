"""Reference values for tests/test_data_image.c: torchvision 0.14 resize / centre crop /
resized_crop (bilinear, antialias=False) on a small synthetic RGB image, and the normalised test
transform. Run: /usr/bin/python3 tests/ref/data_torchvision_ref.py > tests/fixtures/data/torchvision_ref.txt

Output: for each case a line `case <name> C H W`, then C*H*W floats (CHW order), one per line.
The image is W=37 x H=29 x 3 with pixel (y, x, c) = (31x + 17y + 71c + xy) mod 256, made the same
way by the C test."""
import torch
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode

W, H = 37, 29
img = torch.zeros(3, H, W)
for c in range(3):
    for y in range(H):
        for x in range(W):
            img[c, y, x] = (31 * x + 17 * y + 71 * c + x * y) % 256
BIL = InterpolationMode.BILINEAR


def emit(name, t):
    print("case %s %d %d %d" % (name, t.shape[0], t.shape[1], t.shape[2]))
    for v in t.reshape(-1).tolist():
        print("%.6f" % v)


# test transform: Resize(20) (shorter side) + CenterCrop(16)
r = F.resize(img, 20, interpolation=BIL, antialias=False)
emit("resize20_crop16", F.center_crop(r, [16, 16]))
# upsampling: Resize(40) + CenterCrop(33)
r = F.resize(img, 40, interpolation=BIL, antialias=False)
emit("resize40_crop33", F.center_crop(r, [33, 33]))
# RandomResizedCrop's resample for given params (top, left, h, w) -> size
emit("rc_3_5_17_22_to12", F.resized_crop(img, 3, 5, 17, 22, [12, 12], interpolation=BIL,
                                          antialias=False))
emit("rc_2_1_8_6_to15", F.resized_crop(img, 2, 1, 8, 6, [15, 15], interpolation=BIL,
                                        antialias=False))
# full normalised test transform (ImageNet mean/std), flip of the second RRC case
r = F.center_crop(F.resize(img, 20, interpolation=BIL, antialias=False), [16, 16]) / 255.0
emit("test_norm", F.normalize(r, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]))
emit("rc_2_1_8_6_to15_flip", F.hflip(F.resized_crop(img, 2, 1, 8, 6, [15, 15],
                                                     interpolation=BIL, antialias=False)))
