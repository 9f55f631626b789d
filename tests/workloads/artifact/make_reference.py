#!/usr/bin/env python3
"""An independent safetensors reader/writer (json + struct only) for the C++ tests.

It shares no code with workloads/artifact/safetensors.cpp, so agreement between the two shows our
files follow the format rather than our own reading of it.

  make_reference.py read FILE [--torch]   print {"metadata": {...}, "tensors": {name: {...}}} as JSON
  make_reference.py write FILE            write a reference file laid out the way Python writers do,
                                          and print the values it wrote in the same JSON form

With --torch (and torch importable) every tensor is also decoded by torch.frombuffer and compared
with the struct decoding; a mismatch exits with status 1. Non-finite values are printed as the
strings "nan", "inf", "-inf" (JSON has no literal for them).
"""
import json
import math
import struct
import sys

SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
         "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
FORMATS = {"BOOL": "?", "U8": "B", "I8": "b", "I16": "h", "U16": "H", "F16": "e",
           "I32": "i", "U32": "I", "F32": "f", "I64": "q", "U64": "Q", "F64": "d"}


def fail(message):
    sys.stderr.write("make_reference.py: " + message + "\n")
    sys.exit(1)


def decode(dtype, raw):
    count = len(raw) // SIZES[dtype]
    if dtype == "BF16":
        halves = struct.unpack("<%dH" % count, raw)
        return [struct.unpack("<f", struct.pack("<I", h << 16))[0] for h in halves]
    values = list(struct.unpack("<%d%s" % (count, FORMATS[dtype]), raw))
    return [int(v) if dtype == "BOOL" else v for v in values]


def printable(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def read(path, use_torch):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        fail("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        fail("header length beyond the file")
    header_bytes = blob[8:8 + n]
    if header_bytes[:1] != b"{":
        fail("header does not start with '{'")
    pairs_seen = []

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            fail("duplicate keys in header")
        pairs_seen.append(keys)
        return dict(pairs)

    header = json.loads(header_bytes.decode("utf-8"), object_pairs_hook=no_duplicates)
    data = blob[8 + n:]
    metadata = header.pop("__metadata__", None) or {}
    for k, v in metadata.items():
        if not isinstance(v, str):
            fail("metadata value for %r is not a string" % k)
    entries = sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"]))
    position = 0
    out = {}
    for name, info in entries:
        begin, end = info["data_offsets"]
        if begin != position:
            fail("tensor %r starts at %d, expected %d" % (name, begin, position))
        count = 1
        for d in info["shape"]:
            count *= d
        if count * SIZES[info["dtype"]] != end - begin:
            fail("tensor %r size does not match its shape" % name)
        if begin % SIZES[info["dtype"]] != 0 or (8 + n) % 8 != 0:
            fail("tensor %r is not aligned to its element size" % name)
        position = end
        values = decode(info["dtype"], data[begin:end])
        out[name] = {"dtype": info["dtype"], "shape": info["shape"], "values": [printable(v) for v in values]}
        if use_torch:
            check_with_torch(name, info, data[begin:end], values)
    if position != len(data):
        fail("tensors cover %d of %d buffer bytes" % (position, len(data)))
    return {"metadata": metadata, "tensors": out}


def check_with_torch(name, info, raw, values):
    import torch
    dtypes = {"BOOL": torch.bool, "U8": torch.uint8, "I8": torch.int8, "I16": torch.int16, "F16": torch.float16,
              "BF16": torch.bfloat16, "I32": torch.int32, "F32": torch.float32, "I64": torch.int64,
              "F64": torch.float64}
    if info["dtype"] not in dtypes:
        return
    if len(raw) == 0:
        decoded = torch.empty(info["shape"], dtype=dtypes[info["dtype"]])
    else:
        decoded = torch.frombuffer(bytearray(raw), dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    flat = decoded.reshape(-1).tolist()
    flat = [int(v) if isinstance(v, bool) else v for v in flat]
    same = len(flat) == len(values) and all(
        (isinstance(a, float) and math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(flat, values))
    if not same:
        fail("torch decodes tensor %r differently: %r vs %r" % (name, flat[:8], values[:8]))


def write(path):
    # Values exactly representable in each dtype, so the printed values are what the file holds.
    tensors = {
        "conv.weight": ("F32", [2, 3], [0.5 * i - 1.25 for i in range(6)]),
        "conv.scale_h": ("F16", [4], [1.0, -2.5, 65504.0, 2.0 ** -24]),
        "conv.scale_b": ("BF16", [3], [1.0, -0.15625, 256.0]),
        "codes": ("I8", [2, 2], [-128, -1, 0, 127]),
        "step": ("I64", [], [1234567890123]),
        "empty": ("F32", [0, 4], []),
        "mask": ("BOOL", [3], [1, 0, 1]),
        "wide": ("F64", [2], [math.pi, -1e300]),
    }
    metadata = {"network": json.dumps({"layers": [{"kind": "dense", "out": 3}]}), "format": "pt"}
    # Like Python's save_file: larger elements first, then by name; the header written in that
    # order but with the metadata last and spaces after separators (a different writer's style).
    order = sorted(tensors, key=lambda k: (-SIZES[tensors[k][0]], k))
    header = {}
    chunks = []
    offset = 0
    for name in order:
        dtype, shape, values = tensors[name]
        if dtype == "BF16":
            raw = b"".join(struct.pack("<H", struct.unpack("<I", struct.pack("<f", v))[0] >> 16) for v in values)
        else:
            raw = struct.pack("<%d%s" % (len(values), FORMATS[dtype]), *values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    header["__metadata__"] = metadata
    text = json.dumps(header).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)
    return {"metadata": metadata,
            "tensors": {k: {"dtype": d, "shape": s, "values": [printable(float(x)) if d in ("F32", "F16", "BF16", "F64")
                                                                else x for x in v]}
                        for k, (d, s, v) in tensors.items()}}


def main(argv):
    if len(argv) >= 3 and argv[1] == "read":
        use_torch = "--torch" in argv[3:]
        if use_torch:
            try:
                import torch  # noqa: F401
            except ImportError:
                use_torch = False
        result = read(argv[2], use_torch)
        result["torch_checked"] = use_torch
    elif len(argv) == 3 and argv[1] == "write":
        result = write(argv[2])
    else:
        fail("usage: make_reference.py read FILE [--torch] | write FILE")
    json.dump(result, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
