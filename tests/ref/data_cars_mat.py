"""Writes tests/fixtures/data/cars_annos_zlib.mat: a zlib-compressed MAT v5 file shaped like
Stanford Cars' cars_annos.mat (struct array `annotations` 1x4 with relative_im_path, bbox_x1,
class, test; cell array class_names), as scipy / MATLAB write it. matio's own compressed struct
writer is not used for this because its output is misread by matio 1.5.23 itself.
Run: /usr/bin/python3 tests/ref/data_cars_mat.py"""
import os
import numpy as np
import scipy.io as sio

rows = [("car_ims/000001.jpg", 1), ("car_ims/000002.jpg", 98), ("car_ims/000003.jpg", 99),
        ("car_ims/000004.jpg", 196)]
dt = [("relative_im_path", "O"), ("bbox_x1", "O"), ("class", "O"), ("test", "O")]
ann = np.array([(p, np.array([[3]], dtype=np.uint8), np.array([[c]], dtype=np.uint8),
                 np.array([[i % 2]], dtype=np.uint8)) for i, (p, c) in enumerate(rows)],
               dtype=dt).reshape(1, -1)
names = np.empty((1, 196), dtype=object)
for k in range(196):
    names[0, k] = "Car %d" % (k + 1)
out = os.path.join(os.path.dirname(__file__), "..", "fixtures", "data", "cars_annos_zlib.mat")
sio.savemat(out, {"annotations": ann, "class_names": names}, do_compression=True)
