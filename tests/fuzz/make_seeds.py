#!/usr/bin/env python3
"""make_seeds.py: writes the small seed files of the loader fuzz targets into
tests/fuzz/corpus/{weights,npy,idx,csv}/ (committed; rerun only to change them).
Pure Python (no numpy): the formats are written by hand from their specs."""
import gzip, json, os, struct

D = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

def put(target, name, data):
    os.makedirs(os.path.join(D, target), exist_ok=True)
    with open(os.path.join(D, target, name), "wb") as f:
        f.write(data)

def safetensors(tensors, meta=None):
    hdr, blob = {}, b""
    for name, (dt, shape, raw) in tensors.items():
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    if meta:
        hdr["__metadata__"] = meta
    h = json.dumps(hdr).encode()
    return struct.pack("<Q", len(h)) + h + blob

f32 = lambda xs: struct.pack("<%df" % len(xs), *xs)
put("weights", "two.safetensors", safetensors({
    "l1.W": ("F32", [2, 3], f32([1, 2, 3, 4, 5, 6])),
    "l1.b": ("F32", [3], f32([0.5, -1, 2]))}, {"format": "nnc", "model": "M"}))
put("weights", "dtypes.safetensors", safetensors({
    "a": ("F64", [2], struct.pack("<2d", 1, 2)), "b": ("I32", [1], struct.pack("<i", 7)),
    "c": ("I64", [], struct.pack("<q", -3)), "d": ("U8", [3], b"\x01\x02\x03"),
    "e": ("BOOL", [2], b"\x00\x01"), "z": ("F32", [0, 4], b"")}))
put("weights", "empty.safetensors", safetensors({}))

def npy(descr, shape, raw, version=1):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (
        descr, "(%s)" % "".join("%d," % s for s in shape) if shape else "()")
    pre = 10 if version == 1 else 12
    h += " " * ((64 - (pre + len(h) + 1) % 64) % 64) + "\n"
    ln = struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([version, 0]) + ln + h.encode() + raw

put("npy", "f4.npy", npy("<f4", [2, 3], f32([1, 2, 3, 4, 5, 6])))
put("npy", "i8.npy", npy("<i8", [3], struct.pack("<3q", 1, 2, 3)))
put("npy", "u1_v2.npy", npy("|u1", [2, 2], b"\x00\x01\x02\x03", version=2))
put("npy", "b1_scalar.npy", npy("|b1", [], b"\x01"))
put("npy", "f8_v3.npy", npy("<f8", [1], struct.pack("<d", 0.25), version=3))

def idx(code, shape, raw):
    return struct.pack(">BBBB", 0, 0, code, len(shape)) + b"".join(struct.pack(">I", s) for s in shape) + raw

images = idx(0x08, [2, 2, 2], bytes(range(8)))
put("idx", "images.idx", images)
put("idx", "labels.idx", idx(0x08, [3], b"\x01\x02\x09"))
put("idx", "floats.idx", idx(0x0D, [2], struct.pack(">2f", 1.5, -2)))
put("idx", "ints.idx", idx(0x0C, [2], struct.pack(">2i", 5, -5)))
put("idx", "images.gz.idx", gzip.compress(images, mtime=0) + b"\x01")  # odd last byte: .gz name

put("csv", "header.csv", b"a,b,c\n1,2,3\n4.5,-6e2,7\n")
put("csv", "plain.csv", b"1,2\r\n3,4\r\n\r\n5,6\r\n")
put("csv", "text.csv", b"To be, or not to be: that is the question.\n")
