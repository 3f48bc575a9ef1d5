#!/usr/bin/env python3
"""loader_model.py -- a small model of how TensorBoard's two readers turn the
event files of a run into points, applied to real compactor output.

Usage: loader_model.py LOGDIR TAG
Prints, for TAG, one line per point each model ends up showing:
    python STEP VALUE     (the Python loader, EventAccumulator with purging)
    rust STEP VALUE       (the Rust data server)
Rules modelled (see /work/shared/FACTS.md and doc/compactor.md):
  - files whose name contains "tfevents", read in name order;
  - Python: the first SessionLog START of a run is ignored; each later one
    at step s drops every point with step >= s read before it (all tags);
  - Rust: SessionLog is ignored; per tag, a point at step s drops the
    points at steps >= s read before it (it keeps the newest per step).
Records are framed as TFRecords; both CRCs are checked with the independent
crc32c package, and payloads are parsed with a minimal protobuf wire reader
(field numbers of tensorflow/core/util/event.proto and summary.proto).
"""
import os
import struct
import sys

import crc32c


def masked(data):
    c = crc32c.crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def records(path):
    with open(path, "rb") as f:
        buf = f.read()
    off = 0
    while off < len(buf):
        if len(buf) - off < 12:
            raise SystemExit("%s: torn header at %d" % (path, off))
        (n,) = struct.unpack_from("<Q", buf, off)
        (lcrc,) = struct.unpack_from("<I", buf, off + 8)
        if lcrc != masked(buf[off:off + 8]):
            raise SystemExit("%s: bad length crc at %d" % (path, off))
        data = buf[off + 12:off + 12 + n]
        if len(data) != n or len(buf) < off + 16 + n:
            raise SystemExit("%s: torn record at %d" % (path, off))
        (dcrc,) = struct.unpack_from("<I", buf, off + 12 + n)
        if dcrc != masked(data):
            raise SystemExit("%s: bad data crc at %d" % (path, off))
        yield data
        off += 16 + n


def varint(b, i):
    shift = v = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            return v, i
        shift += 7


def fields(b):
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 1:
            v = b[i:i + 8]
            i += 8
        elif wt == 5:
            v = b[i:i + 4]
            i += 4
        elif wt == 2:
            n, i = varint(b, i)
            v = b[i:i + n]
            i += n
        else:
            raise SystemExit("unsupported wire type %d" % wt)
        yield num, wt, v


def signed64(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def parse_event(b):
    ev = {"step": 0, "start": False, "scalars": []}
    for num, wt, v in fields(b):
        if num == 2 and wt == 0:
            ev["step"] = signed64(v)
        elif num == 7 and wt == 2:          # session_log
            for n2, w2, v2 in fields(v):
                if n2 == 1 and w2 == 0 and v2 == 1:
                    ev["start"] = True
        elif num == 5 and wt == 2:          # summary
            for n2, w2, v2 in fields(v):
                if n2 != 1 or w2 != 2:
                    continue
                tag, val = None, None
                for n3, w3, v3 in fields(v2):
                    if n3 == 1 and w3 == 2:
                        tag = v3.decode("utf-8")
                    elif n3 == 2 and w3 == 5:
                        (val,) = struct.unpack("<f", v3)
                    elif n3 == 8 and w3 == 2:   # TensorProto
                        dtype = None
                        for n4, w4, v4 in fields(v3):
                            if n4 == 1 and w4 == 0:
                                dtype = v4
                            elif n4 == 5 and w4 == 5:
                                (val,) = struct.unpack("<f", v4)
                            elif n4 == 5 and w4 == 2 and len(v4) == 4:
                                (val,) = struct.unpack("<f", v4)
                        if dtype != 1:          # only DT_FLOAT counts
                            val = None
                if tag is not None and val is not None:
                    ev["scalars"].append((tag, val))
    return ev


def main():
    logdir, want = sys.argv[1], sys.argv[2]
    names = sorted(n for n in os.listdir(logdir) if "tfevents" in n)
    py, rs = {}, {}
    seen_start = False
    for name in names:
        for data in records(os.path.join(logdir, name)):
            ev = parse_event(data)
            if ev["start"]:
                if seen_start:
                    for tag in py:
                        py[tag] = [p for p in py[tag] if p[0] < ev["step"]]
                seen_start = True
            for tag, val in ev["scalars"]:
                py.setdefault(tag, []).append((ev["step"], val))
                pts = [p for p in rs.get(tag, []) if p[0] < ev["step"]]
                pts.append((ev["step"], val))
                rs[tag] = pts
    for step, val in py.get(want, []):
        print("python %d %g" % (step, val))
    for step, val in rs.get(want, []):
        print("rust %d %g" % (step, val))


if __name__ == "__main__":
    main()
