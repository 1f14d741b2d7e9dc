#!/usr/bin/python3
"""Fixture images for tests/cli_front_test.sh, generated from Debian's Fashion-MNIST test file:
OUT/gallery/<class>/t<index>.png (28x28 gray, 4 per test class 5-9: the run's test split, whose
row <index> they are), OUT/gallery/<class>/big<index>.jpg (56x56 RGB JPEG of the same image),
OUT/list.txt (the gallery as a list file, relative paths), OUT/index.txt ("path row" of each
PNG), OUT/pics.npy + OUT/pics_labels.npy + OUT/pics_emb.npy (uint8 images, labels and
pseudo-embeddings for eval --images) and their split into OUT/q_* and OUT/g_* (query/gallery). Exits 77 without PIL or the dataset."""
import gzip
import os
import sys

import numpy as np

try:
    from PIL import Image
except ImportError:
    print("SKIP: python3-pil is not installed")
    sys.exit(77)

SRC = "/usr/share/datasets/fashion-mnist"
NAMES = {5: "sandal", 6: "shirt", 7: "sneaker", 8: "bag", 9: "ankle_boot"}


def idx(path):
    with gzip.open(path, "rb") as f:
        d = f.read()
    nd = d[3]
    dims = [int.from_bytes(d[4 + 4 * k:8 + 4 * k], "big") for k in range(nd)]
    return np.frombuffer(d, np.uint8, offset=4 + 4 * nd).reshape(dims)


def main(out):
    x = idx(os.path.join(SRC, "t10k-images-idx3-ubyte.gz"))
    y = idx(os.path.join(SRC, "t10k-labels-idx1-ubyte.gz"))
    rows = np.flatnonzero(y >= 5)  # the run's test split: classes 5-9 in file order
    index, listing = [], []
    for c, name in NAMES.items():
        os.makedirs(os.path.join(out, "gallery", name), exist_ok=True)
        mine = [r for r, i in enumerate(rows) if y[i] == c][:4]
        for r in mine:
            rel = "gallery/%s/t%04d.png" % (name, r)
            Image.fromarray(x[rows[r]], "L").save(os.path.join(out, rel))
            index.append("%s %d" % (rel, r))
            listing.append(rel)
        r = mine[0]
        rel = "gallery/%s/big%04d.jpg" % (name, r)
        rgb = np.repeat(np.kron(x[rows[r]], np.ones((2, 2), np.uint8))[:, :, None], 3, 2)
        Image.fromarray(rgb, "RGB").save(os.path.join(out, rel), quality=95)
        listing.append(rel)
    with open(os.path.join(out, "index.txt"), "w") as f:
        f.write("\n".join(index) + "\n")
    with open(os.path.join(out, "list.txt"), "w") as f:
        f.write("# the gallery as a list\n\n" + "\n".join(listing) + "\n")
    sel = rows[:60]
    np.save(os.path.join(out, "pics.npy"), x[sel])
    np.save(os.path.join(out, "pics_labels.npy"), y[sel].astype(np.int64))
    rng = np.random.default_rng(0)
    emb = np.eye(10, dtype=np.float32)[y[sel]] * 3 + rng.standard_normal((60, 10)).astype(np.float32)
    np.save(os.path.join(out, "pics_emb.npy"), emb)
    for name, part in (("q", slice(0, 20)), ("g", slice(20, 60))):  # query/gallery form
        np.save(os.path.join(out, name + "_pics.npy"), x[sel][part])
        np.save(os.path.join(out, name + "_labels.npy"), y[sel][part].astype(np.int64))
        np.save(os.path.join(out, name + "_emb.npy"), emb[part])


if __name__ == "__main__":
    if not os.path.isdir(SRC):
        print("SKIP: %s not found" % SRC)
        sys.exit(77)
    main(sys.argv[1])
