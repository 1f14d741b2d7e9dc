#!/usr/bin/python3
"""Convert torchvision models' state_dicts to and from safetensors, without the safetensors package.

Run with /usr/bin/python3 (torch, torchvision, numpy):

  convert_torchvision.py to-safetensors --arch resnet50 [--weights state_dict.pth | --random --seed S]
                         [--meta KEY=VALUE ...] out.safetensors
  convert_torchvision.py to-torch [--arch resnet50] in.safetensors out.pth
  convert_torchvision.py info in.safetensors

Names are kept as in the state_dict (conv1.weight, layer1.0.bn1.running_mean, ...); the
num_batches_tracked buffers are stored as I64 scalars. Tensors are written in state_dict order; the
header is padded with spaces to a multiple of 8 bytes. --weights takes a local .pth (a state_dict,
or a checkpoint dict holding one under 'state_dict' or 'model'; a 'module.' prefix is stripped);
torchvision's download is not used. --random builds the model with torchvision's own initialisation
after torch.manual_seed(S).

The reader enforces the same rules as metrix's C reader: 8-byte LE header length <= 1e8, a JSON
object header starting with '{' padded only with spaces, no duplicate keys, entries with exactly
dtype/shape/data_offsets, byte ranges tiling the data buffer, file size = 8 + N + data size.
"""
import argparse
import collections
import json
import struct
import sys

import numpy as np

MAX_HEADER = 100_000_000
# safetensors dtype -> (numpy dtype, element size); BF16 has no numpy type (handled via torch)
ST_DTYPES = {
    "BOOL": ("|b1", 1), "U8": ("|u1", 1), "I8": ("|i1", 1), "I16": ("<i2", 2), "U16": ("<u2", 2),
    "F16": ("<f2", 2), "BF16": (None, 2), "I32": ("<i4", 4), "U32": ("<u4", 4), "F32": ("<f4", 4),
    "F64": ("<f8", 8), "I64": ("<i8", 8), "U64": ("<u8", 8),
}


class FormatError(ValueError):
    pass


def _no_duplicates(pairs):
    d = collections.OrderedDict()
    for k, v in pairs:
        if k in d:
            raise FormatError("duplicate key %r in header" % k)
        d[k] = v
    return d


def read_safetensors(path):
    """Returns (OrderedDict name -> (dtype, shape, bytes), metadata dict), in data order."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise FormatError("%s: too short for a safetensors file" % path)
    (n,) = struct.unpack("<Q", buf[:8])
    if n > MAX_HEADER or n > len(buf) - 8:
        raise FormatError("%s: header length %d too large or past the end" % (path, n))
    raw = buf[8:8 + n]
    if not raw.startswith(b"{"):
        raise FormatError("%s: header must start with '{'" % path)
    text = raw.rstrip(b" ")
    try:
        header = json.loads(text.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError("%s: header is not valid JSON: %s" % (path, e))
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise FormatError("%s: __metadata__ must map strings to strings" % path)
    entries = []
    for name, e in header.items():
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise FormatError("%s: tensor %r: expected exactly dtype, shape, data_offsets" % (path, name))
        if e["dtype"] not in ST_DTYPES:
            raise FormatError("%s: tensor %r: unsupported dtype %r" % (path, name, e["dtype"]))
        shape = e["shape"]
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise FormatError("%s: tensor %r: bad shape %r" % (path, name, shape))
        off = e["data_offsets"]
        if not isinstance(off, list) or len(off) != 2 or not all(type(o) is int and o >= 0 for o in off):
            raise FormatError("%s: tensor %r: bad data_offsets %r" % (path, name, off))
        size = int(np.prod(shape, dtype=np.int64)) * ST_DTYPES[e["dtype"]][1]
        if off[1] - off[0] != size:
            raise FormatError("%s: tensor %r: data_offsets span %d bytes, expected %d"
                              % (path, name, off[1] - off[0], size))
        entries.append((off[0], off[1], name, e["dtype"], tuple(shape)))
    entries.sort()
    pos, data = 0, 8 + n
    out = collections.OrderedDict()
    for b, e, name, dt, shape in entries:
        if b != pos:
            raise FormatError("%s: tensor %r: begins at %d, expected %d" % (path, name, b, pos))
        out[name] = (dt, shape, buf[data + b:data + e])
        pos = e
    if len(buf) != data + pos:
        raise FormatError("%s: file is %d bytes, expected %d" % (path, len(buf), data + pos))
    return out, meta


def to_numpy(dtype, shape, data):
    """numpy array for a safetensors entry (BF16 is returned widened to float32)."""
    if dtype == "BF16":
        u = np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16
        return u.view(np.float32).reshape(shape)
    return np.frombuffer(data, dtype=ST_DTYPES[dtype][0]).reshape(shape).copy()


def to_torch(dtype, shape, data):
    import torch
    if dtype == "BF16":
        return torch.from_numpy(to_numpy(dtype, shape, data)).to(torch.bfloat16)
    a = to_numpy(dtype, shape, data)
    if dtype in ("U16", "U32"):
        a = a.astype(np.int64)  # torch 1.13 has no uint16/32: widen losslessly
    elif dtype == "U64":
        a = a.view(np.int64)  # same bits
    return torch.from_numpy(a)


def _torch_st_dtype(t):
    import torch
    return {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
            torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
            torch.uint8: "U8", torch.bool: "BOOL"}[t.dtype]


def tensor_bytes(t):
    """(safetensors dtype, shape, little-endian C-order bytes) of a torch tensor or numpy array."""
    if isinstance(t, np.ndarray):
        a = np.ascontiguousarray(t)
        if a.dtype == np.bool_:
            dt = "BOOL"
        else:
            dt = {v[0]: k for k, v in ST_DTYPES.items() if v[0]}[a.dtype.newbyteorder("<").str
                                                                if a.dtype.itemsize > 1 else a.dtype.str]
        return dt, tuple(a.shape), a.astype(ST_DTYPES[dt][0], copy=False).tobytes()
    import torch
    t = t.detach().cpu().contiguous()
    dt = _torch_st_dtype(t)
    if dt == "BF16":
        return dt, tuple(t.shape), t.view(torch.int16).numpy().astype("<i2").tobytes()
    return dt, tuple(t.shape), t.numpy().astype(ST_DTYPES[dt][0], copy=False).tobytes()


def write_safetensors(path, tensors, metadata=None):
    """tensors: ordered mapping name -> torch tensor or numpy array. Written in that order."""
    header = collections.OrderedDict()
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs, pos = [], 0
    for name, t in tensors.items():
        dt, shape, b = tensor_bytes(t)
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [pos, pos + len(b)]}
        blobs.append(b)
        pos += len(b)
    h = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def _model(arch):
    import torchvision
    return getattr(torchvision.models, arch)(weights=None)


def _load_state_dict(path):
    import torch
    sd = torch.load(path, map_location="cpu")
    for k in ("state_dict", "model"):
        if isinstance(sd, dict) and k in sd and isinstance(sd[k], dict):
            sd = sd[k]
    return collections.OrderedDict((k[7:] if k.startswith("module.") else k, v) for k, v in sd.items())


def cmd_to_safetensors(a):
    import torch
    model = _model(a.arch)
    if a.weights:
        model.load_state_dict(_load_state_dict(a.weights), strict=True)
    else:
        torch.manual_seed(a.seed)
        model = _model(a.arch)
    meta = {"source": "torchvision", "arch": a.arch,
            "weights": a.weights if a.weights else "random seed %d" % a.seed}
    for kv in a.meta or []:
        k, _, v = kv.partition("=")
        meta[k] = v
    sd = model.state_dict()
    write_safetensors(a.out, sd, meta)
    print("wrote %s: %d tensors" % (a.out, len(sd)))


def cmd_to_torch(a):
    import torch
    entries, meta = read_safetensors(a.inp)
    sd = collections.OrderedDict((k, to_torch(*v)) for k, v in entries.items())
    if a.arch:
        _model(a.arch).load_state_dict(sd, strict=True)
    torch.save(sd, a.out)
    print("wrote %s: %d tensors; metadata %s" % (a.out, len(sd), json.dumps(meta)))


def cmd_info(a):
    entries, meta = read_safetensors(a.inp)
    print("metadata:", json.dumps(meta))
    for k, (dt, shape, _) in entries.items():
        print("%-50s %-5s %s" % (k, dt, list(shape)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("to-safetensors", help="torchvision state_dict -> safetensors")
    s.add_argument("--arch", default="resnet50")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--weights", help="local .pth state_dict")
    g.add_argument("--random", action="store_true", help="torchvision's default initialisation")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--meta", action="append", help="extra metadata KEY=VALUE")
    s.add_argument("out")
    t = sub.add_parser("to-torch", help="safetensors -> torch.save'd state_dict")
    t.add_argument("--arch", help="check that the tensors load into this torchvision model")
    t.add_argument("inp")
    t.add_argument("out")
    i = sub.add_parser("info", help="list tensors and metadata")
    i.add_argument("inp")
    a = p.parse_args(argv)
    try:
        {"to-safetensors": cmd_to_safetensors, "to-torch": cmd_to_torch, "info": cmd_info}[a.cmd](a)
    except FormatError as e:
        print("error:", e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
