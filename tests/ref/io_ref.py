#!/usr/bin/python3
"""Cross-checks of metrix's safetensors / .npy io against Python (torch, numpy), for tests/test_io_compat.c.

  io_ref.py fixtures DIR   write Python-made files the C reader must read (committed under
                           tests/fixtures/io/): py_written.safetensors (torch tensors, written by hand
                           with struct + json through tools/convert_torchvision.py), py_unpadded.safetensors
                           (header not padded, data in reverse order), and np.save'd .npy files in
                           format versions 1.0, 2.0 and 3.0.
  io_ref.py check DIR      read the files the C test wrote (c.safetensors, c_*.npy) with the Python
                           reader and np.load and verify every value; exit status 0 = all equal.
  io_ref.py r50 DIR        torchvision resnet50 (random init, seed 7) -> DIR/r50.safetensors, plus
                           DIR/r50_<name>.npy of a few tensors for the C side to compare; also checks
                           the round trip safetensors -> to-torch .pth -> to-safetensors --weights.

Values follow formulas that the C test recomputes: f(i) = 3 sin(0.37 i) for floats, see INTS.
Run: /usr/bin/python3 tests/ref/io_ref.py fixtures tests/fixtures/io
"""
import collections
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import convert_torchvision as cv  # noqa: E402


def f(n):
    return np.array([3.0 * math.sin(0.37 * i) for i in range(n)], dtype=np.float64)


INTS = {  # name -> (numpy dtype, shape, values as python ints from index i)
    "i64": ("<i8", (4,), lambda i: (i - 2) * 3000000000),
    "i32": ("<i4", (2, 2), lambda i: (i - 2) * 100000),
    "u8": ("|u1", (6,), lambda i: (i * 40) % 256),
    "u16": ("<u2", (3,), lambda i: 65535 - i * 1000),
    "u32": ("<u4", (3,), lambda i: 4294967295 - i * 1000),
    "u64": ("<u8", (2,), lambda i: 18446744073709551615 - i),
    "bool": ("|b1", (5,), lambda i: i % 2 == 0),
}


def int_array(name):
    dt, shape, fn = INTS[name]
    n = int(np.prod(shape))
    return np.array([fn(i) for i in range(n)], dtype=dt).reshape(shape)


def fixtures(d):
    import torch
    t = collections.OrderedDict()
    t["f32"] = torch.from_numpy(f(12).astype(np.float32).reshape(3, 4))
    t["f64"] = torch.from_numpy(f(5))
    t["f16"] = torch.from_numpy(f(6).reshape(2, 3)).to(torch.float16)
    t["bf16"] = torch.from_numpy(f(7)).to(torch.bfloat16)
    t["i64"] = torch.from_numpy(int_array("i64"))
    t["i32"] = torch.from_numpy(int_array("i32"))
    t["u8"] = torch.from_numpy(int_array("u8"))
    t["bool"] = torch.from_numpy(int_array("bool"))
    t["scalar"] = torch.tensor(3.5, dtype=torch.float32)
    t["empty"] = torch.zeros(0, 3)
    t["layer1.0.conv1.weight"] = torch.from_numpy(f(18).astype(np.float32).reshape(2, 1, 3, 3))
    meta = {"created_by": "tests/ref/io_ref.py", "unicode": "caf\u00e9"}
    cv.write_safetensors(os.path.join(d, "py_written.safetensors"), t, meta)

    # unpadded header, data stored in the reverse of the header order
    import json
    import struct
    blobs = {"a": f(3).astype("<f4").tobytes(), "b": int_array("i64").tobytes()}
    header = {"b": {"dtype": "I64", "shape": [4], "data_offsets": [0, 32]},
              "a": {"dtype": "F32", "shape": [3], "data_offsets": [32, 44]}}
    h = json.dumps(header).encode()
    assert len(h) % 8 != 0  # really unpadded
    with open(os.path.join(d, "py_unpadded.safetensors"), "wb") as fp:
        fp.write(struct.pack("<Q", len(h)) + h + blobs["b"] + blobs["a"])

    np.save(os.path.join(d, "py_f32.npy"), f(12).astype(np.float32).reshape(3, 4))
    np.save(os.path.join(d, "py_f64_scalar.npy"), np.float64(2.75))
    for k in ("i64", "i32", "u8", "u16", "u32", "u64", "bool"):
        np.save(os.path.join(d, "py_%s.npy" % k), int_array(k))
    for ver in ((2, 0), (3, 0)):
        with open(os.path.join(d, "py_f64_v%d.npy" % ver[0]), "wb") as fp:
            np.lib.format.write_array(fp, f(5).reshape(5, 1), version=ver)
    with open(os.path.join(d, "py_fortran.npy"), "wb") as fp:
        np.lib.format.write_array(fp, np.asfortranarray(f(6).reshape(2, 3)))
    np.save(os.path.join(d, "py_bigendian.npy"), f(4).astype(">f8"))
    print("wrote fixtures to", d)


def check(d):
    bad = []

    def expect(what, got, want):
        if got.dtype != want.dtype or got.shape != want.shape or not np.array_equal(got, want):
            bad.append("%s: got %s %s %s, want %s %s %s" % (what, got.dtype, got.shape, got.ravel()[:6],
                                                             want.dtype, want.shape, want.ravel()[:6]))

    entries, meta = cv.read_safetensors(os.path.join(d, "c.safetensors"))
    if meta != {"created_by": "test_io_compat", "unicode": "caf\u00e9"}:
        bad.append("metadata %r" % meta)
    want = collections.OrderedDict()
    want["f32"] = f(12).astype(np.float32).reshape(3, 4)
    want["f64"] = f(5)
    for k in INTS:
        want[k] = int_array(k)
    want["scalar"] = np.array(3.5, dtype=np.float32)
    want["empty"] = np.zeros((0, 3), dtype=np.float32)
    if list(entries) != list(want):
        bad.append("tensor order %s, want %s" % (list(entries), list(want)))
    for k, w in want.items():
        if k not in entries:
            bad.append("missing " + k)
            continue
        expect("safetensors " + k, cv.to_numpy(*entries[k]), w)
    # torch conversion of what torch can hold
    import torch
    t = cv.to_torch(*entries["f32"])
    if t.dtype != torch.float32 or not torch.equal(t, torch.from_numpy(want["f32"])):
        bad.append("to_torch f32")
    for k in ("f32", "i64", "u8", "bool", "scalar", "empty"):
        expect("npy " + k, np.load(os.path.join(d, "c_%s.npy" % k)), want[k])
    for b in bad:
        print("MISMATCH", b)
    print("python check: %d mismatches" % len(bad))
    return 1 if bad else 0


def r50(d):
    out = os.path.join(d, "r50.safetensors")
    rc = cv.main(["to-safetensors", "--arch", "resnet50", "--random", "--seed", "7", out])
    if rc:
        return rc
    entries, _ = cv.read_safetensors(out)
    # round trip: safetensors -> .pth (checked to load into resnet50) -> safetensors via --weights
    pth, back = os.path.join(d, "r50.pth"), os.path.join(d, "r50_back.safetensors")
    if cv.main(["to-torch", "--arch", "resnet50", out, pth]) or \
            cv.main(["to-safetensors", "--arch", "resnet50", "--weights", pth, back]):
        return 1
    again, _ = cv.read_safetensors(back)
    if list(again) != list(entries) or any(again[k] != entries[k] for k in entries):
        print("MISMATCH: resnet50 safetensors -> pth -> safetensors changed the tensors")
        return 1
    for k in ("conv1.weight", "layer4.2.bn3.running_var", "fc.weight", "fc.bias"):
        np.save(os.path.join(d, "r50_%s.npy" % k), cv.to_numpy(*entries[k]))
    return 0


if __name__ == "__main__":
    cmd, d = sys.argv[1], sys.argv[2]
    sys.exit({"fixtures": fixtures, "check": check, "r50": r50}[cmd](d) or 0)
