#!/usr/bin/env python3
"""interop_events.py -- check event files written by libtbwal with Google's
protobuf runtime and an independent CRC-32C.

    interop_events.py PATH/TO/gen_events

Runs gen_events (tests/gen_events.c) into a temporary directory, then:
  - walks the TFRecord framing itself (u64 LE length, masked CRC-32C of the
    length bytes, data, masked CRC-32C of the data), checking every CRC with
    the crc32c module (Debian python3-crc32c), not with our C code;
  - parses every record with google.protobuf (Debian python3-protobuf) using
    message classes built here at run time from TensorBoard's field numbers
    (tensorboard/compat/proto/{event,summary,tensor,tensor_shape,types}.proto);
  - compares each decoded event with what gen_events says it wrote (and with
    a fixed expectation of what that is), bit for bit.
Exits 1 on any disagreement, 77 (skip) only when the Python modules are
missing, with a message.
"""
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

try:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    import crc32c
except ImportError as exc:  # pragma: no cover - environment problem
    print("SKIP: %s: install python3-protobuf and python3-crc32c "
          "(scripts/setup.sh installs them)" % exc)
    sys.exit(77)

F = descriptor_pb2.FieldDescriptorProto
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


# ---- message classes from TensorBoard's field numbers ----

def add_field(msg, name, number, ftype, label=F.LABEL_OPTIONAL, type_name=None,
              oneof=None):
    f = msg.field.add(name=name, number=number, type=ftype, label=label)
    if type_name:
        f.type_name = type_name
    if oneof is not None:
        f.oneof_index = oneof
    return f


def build_classes():
    fdp = descriptor_pb2.FileDescriptorProto(
        name="tbwal_interop/tensorboard_subset.proto",
        package="tbwinterop", syntax="proto3")
    P = ".tbwinterop."

    dt = fdp.enum_type.add(name="DataType")
    for n, v in (("DT_INVALID", 0), ("DT_FLOAT", 1), ("DT_DOUBLE", 2)):
        dt.value.add(name=n, number=v)

    shape = fdp.message_type.add(name="TensorShapeProto")
    dim = shape.nested_type.add(name="Dim")
    add_field(dim, "size", 1, F.TYPE_INT64)
    add_field(dim, "name", 2, F.TYPE_STRING)
    add_field(shape, "dim", 2, F.TYPE_MESSAGE, F.LABEL_REPEATED, P + "TensorShapeProto.Dim")
    add_field(shape, "unknown_rank", 3, F.TYPE_BOOL)

    tensor = fdp.message_type.add(name="TensorProto")
    add_field(tensor, "dtype", 1, F.TYPE_ENUM, type_name=P + "DataType")
    add_field(tensor, "tensor_shape", 2, F.TYPE_MESSAGE, type_name=P + "TensorShapeProto")
    add_field(tensor, "version_number", 3, F.TYPE_INT32)
    add_field(tensor, "tensor_content", 4, F.TYPE_BYTES)
    add_field(tensor, "float_val", 5, F.TYPE_FLOAT, F.LABEL_REPEATED)   # packed (proto3)
    add_field(tensor, "double_val", 6, F.TYPE_DOUBLE, F.LABEL_REPEATED)

    meta = fdp.message_type.add(name="SummaryMetadata")
    pd = meta.nested_type.add(name="PluginData")
    add_field(pd, "plugin_name", 1, F.TYPE_STRING)
    add_field(pd, "content", 2, F.TYPE_BYTES)
    add_field(meta, "plugin_data", 1, F.TYPE_MESSAGE, type_name=P + "SummaryMetadata.PluginData")
    add_field(meta, "display_name", 2, F.TYPE_STRING)
    add_field(meta, "summary_description", 3, F.TYPE_STRING)

    summary = fdp.message_type.add(name="Summary")
    value = summary.nested_type.add(name="Value")
    value.oneof_decl.add(name="value")
    add_field(value, "node_name", 7, F.TYPE_STRING)
    add_field(value, "tag", 1, F.TYPE_STRING)
    add_field(value, "metadata", 9, F.TYPE_MESSAGE, type_name=P + "SummaryMetadata")
    add_field(value, "simple_value", 2, F.TYPE_FLOAT, oneof=0)
    add_field(value, "tensor", 8, F.TYPE_MESSAGE, type_name=P + "TensorProto", oneof=0)
    add_field(summary, "value", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, P + "Summary.Value")

    slog = fdp.message_type.add(name="SessionLog")
    st = slog.enum_type.add(name="SessionStatus")
    for n, v in (("STATUS_UNSPECIFIED", 0), ("START", 1), ("STOP", 2), ("CHECKPOINT", 3)):
        st.value.add(name=n, number=v)
    add_field(slog, "status", 1, F.TYPE_ENUM, type_name=P + "SessionLog.SessionStatus")
    add_field(slog, "checkpoint_path", 2, F.TYPE_STRING)
    add_field(slog, "msg", 3, F.TYPE_STRING)

    event = fdp.message_type.add(name="Event")
    event.oneof_decl.add(name="what")
    add_field(event, "wall_time", 1, F.TYPE_DOUBLE)
    add_field(event, "step", 2, F.TYPE_INT64)
    add_field(event, "file_version", 3, F.TYPE_STRING, oneof=0)
    add_field(event, "graph_def", 4, F.TYPE_BYTES, oneof=0)
    add_field(event, "summary", 5, F.TYPE_MESSAGE, type_name=P + "Summary", oneof=0)
    add_field(event, "session_log", 7, F.TYPE_MESSAGE, type_name=P + "SessionLog", oneof=0)

    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    desc = pool.FindMessageTypeByName("tbwinterop.Event")
    if hasattr(message_factory, "GetMessageClass"):     # protobuf >= 4.22
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


# ---- TFRecord, checked with the independent CRC-32C ----

def masked_crc(data):
    c = crc32c.crc32c(data) & 0xFFFFFFFF
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def read_records(path):
    with open(path, "rb") as f:
        blob = f.read()
    off, out = 0, []
    while off < len(blob):
        if len(blob) - off < 12:
            fail("%s: %d stray bytes at offset %d" % (path, len(blob) - off, off))
            break
        header = blob[off:off + 8]
        (length,) = struct.unpack("<Q", header)
        (lcrc,) = struct.unpack("<I", blob[off + 8:off + 12])
        if lcrc != masked_crc(header):
            fail("offset %d: length crc %08x, crc32c module says %08x" % (off, lcrc, masked_crc(header)))
            break
        end = off + 12 + length + 4
        if end > len(blob):
            fail("offset %d: record of %d bytes runs past the end" % (off, length))
            break
        data = blob[off + 12:off + 12 + length]
        (dcrc,) = struct.unpack("<I", blob[end - 4:end])
        if dcrc != masked_crc(data):
            fail("offset %d: data crc %08x, crc32c module says %08x" % (off, dcrc, masked_crc(data)))
        out.append((off, data))
        off = end
    return out


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


# What gen_events.c writes, independently of its manifest: (kind, tag, step, bits).
NAN, INF = float("nan"), float("inf")
EXPECTED = (
    [("file_version", None, 0, None)]
    + [("simple", "loss", s, f32_bits(v)) for s, v in
       ((0, 0.25), (1, -3.5), (2, NAN), (3, INF), (4, -INF), (5, 0.0), (6, -0.0))]
    + [("simple", "train/acc", 7, f32_bits(1e-40)), ("simple", "train/acc", 1 << 40, 0x7F7FFFFF),
       ("simple", "neg/step", -5, f32_bits(1.0)), ("simple", "d\u00e9j\u00e0/\u2202", 8, f32_bits(2.0)),
       ("simple", "x" * 300, 9, f32_bits(42.0))]
    + [("tensor", "lr", s, b) for s, b in ((10, f32_bits(0.001)), (0, f32_bits(-0.0)), (11, f32_bits(NAN)))]
    + [("start", None, 100, None)]
)


def main():
    if len(sys.argv) != 2:
        print("usage: interop_events.py PATH/TO/gen_events")
        return 2
    Event = build_classes()
    tmp = tempfile.mkdtemp(prefix="tbw_interop.")
    try:
        run = subprocess.run([sys.argv[1], tmp], stdout=subprocess.PIPE, check=True)
        lines = run.stdout.decode().splitlines()
        path, manifest = lines[0], [l.split() for l in lines[1:]]
        name = os.path.basename(path)
        if not re.fullmatch(r"events\.out\.tfevents\.\d{10}\.interop\.\d+\.\d+\.tbwal", name):
            fail("file name %r does not follow events.out.tfevents.<secs>.<host>.<pid>.<n>" % name)
        if [n for n in os.listdir(tmp) if "tfevents" in n] != [name]:
            fail("unexpected files in the output dir: %r" % os.listdir(tmp))

        records = read_records(path)
        if len(records) != len(manifest) or len(manifest) != len(EXPECTED):
            fail("%d records, %d manifest lines, %d expected" % (len(records), len(manifest), len(EXPECTED)))
        for (off, data), m, exp in zip(records, manifest, EXPECTED):
            ev = Event()
            try:
                ev.ParseFromString(data)
            except Exception as exc:  # DecodeError, or invalid UTF-8
                fail("offset %d: protobuf cannot parse the event: %s" % (off, exc))
                continue
            kind, wall = m[0], float(m[1])
            if kind != exp[0]:
                fail("offset %d: manifest says %s, expected %s" % (off, kind, exp[0]))
                continue
            if ev.wall_time != wall:
                fail("offset %d: wall_time %r != %r" % (off, ev.wall_time, wall))
            what = ev.WhichOneof("what")
            if kind == "file_version":
                if what != "file_version" or ev.file_version != "brain.Event:2" or ev.step != 0:
                    fail("offset %d: not a file_version event: %s" % (off, ev))
                if off != 0:
                    fail("file_version is not the first record")
                continue
            step = int(m[2])
            if ev.step != step or step != exp[2]:
                fail("offset %d: step %d, manifest %d, expected %d" % (off, ev.step, step, exp[2]))
            if kind == "start":
                if what != "session_log" or ev.session_log.status != 1:
                    fail("offset %d: not a SessionLog START: %s" % (off, ev))
                continue
            tag, bits = bytes.fromhex(m[3]).decode("utf-8"), int(m[4], 16)
            if tag != exp[1] or bits != exp[3]:
                fail("offset %d: manifest (%r, %08x) != expected (%r, %08x)" % (off, tag, bits, exp[1], exp[3]))
            if what != "summary" or len(ev.summary.value) != 1:
                fail("offset %d: not a one-value summary: %s" % (off, ev))
                continue
            v = ev.summary.value[0]
            if v.tag != tag:
                fail("offset %d: tag %r != %r" % (off, v.tag, tag))
            if kind == "simple":
                if v.WhichOneof("value") != "simple_value":
                    fail("offset %d: no simple_value" % off)
                elif f32_bits(v.simple_value) != bits:
                    fail("offset %d: simple_value bits %08x != %08x" % (off, f32_bits(v.simple_value), bits))
            else:
                t = v.tensor
                if v.WhichOneof("value") != "tensor":
                    fail("offset %d: no tensor" % off)
                elif (t.dtype != 1 or len(t.tensor_shape.dim) != 0 or t.tensor_shape.unknown_rank
                      or len(t.float_val) != 1 or t.tensor_content):
                    fail("offset %d: not a rank-0 DT_FLOAT tensor: %s" % (off, t))
                elif f32_bits(t.float_val[0]) != bits:
                    fail("offset %d: tensor value bits %08x != %08x" % (off, f32_bits(t.float_val[0]), bits))
                if v.metadata.plugin_data.plugin_name != "scalars":
                    fail("offset %d: plugin %r, not 'scalars'" % (off, v.metadata.plugin_data.plugin_name))
            # Outside the tensor's metadata-before-tensor order, our bytes are
            # what protobuf itself writes for the same message.
            if kind != "tensor" and ev.SerializeToString(deterministic=True) != data:
                fail("offset %d: protobuf re-encodes the event differently:\n  ours   %s\n  theirs %s"
                     % (off, data.hex(), ev.SerializeToString(deterministic=True).hex()))
        print("checked %d records in %s (protobuf %s, crc32c hardware=%s)"
              % (len(records), name, getattr(sys.modules["google.protobuf"], "__version__", "?"),
                 getattr(crc32c, "hardware_based", "?")))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failures else 0


def check_compactor(gen):
    """Compactor output (tests/gen_compactor_events): every file's first
    record is file_version, the rest, across files in name order, is exactly
    the generator's manifest; CRCs by the crc32c module, payloads by
    protobuf."""
    Event = build_classes()
    tmp = tempfile.mkdtemp(prefix="tbw_interop_compactor.")
    total = 0
    try:
        run = subprocess.run([gen, tmp], stdout=subprocess.PIPE, check=True)
        runs = []
        for line in run.stdout.decode().splitlines():
            f = line.split()
            if f[0] == "logdir":
                runs.append((f[1], []))
            else:
                runs[-1][1].append(f)
        for logdir, manifest in runs:
            names = sorted(n for n in os.listdir(logdir) if "tfevents" in n)
            if len(names) < 3:
                fail("%s: %d event files; rotation and sessions should make more" % (logdir, len(names)))
            events = []
            datas = {}
            for name in names:
                if not re.fullmatch(r"events\.out\.tfevents\.\d{10}\.[A-Za-z0-9._-]+\.\d+\.\d{10}"
                                    r"\.tbwal-[0-9a-f]{8}-S?[0-9a-f]{16}", name):
                    fail("file name %r does not follow events.out.tfevents.<secs>.<host>.<pid>.<n>" % name)
                for i, (off, data) in enumerate(read_records(os.path.join(logdir, name))):
                    ev = Event()
                    try:
                        ev.ParseFromString(data)
                    except Exception as exc:
                        fail("%s offset %d: protobuf cannot parse the event: %s" % (name, off, exc))
                        continue
                    is_fv = ev.WhichOneof("what") == "file_version"
                    if (i == 0) != is_fv or (is_fv and ev.file_version != "brain.Event:2"):
                        fail("%s offset %d: file_version must be the first record and only there" % (name, off))
                    if not is_fv:
                        events.append((name, off, ev))
                        datas[(name, off)] = data
            if len(events) != len(manifest):
                fail("%s: %d events, manifest says %d" % (logdir, len(events), len(manifest)))
            for (name, off, ev), m in zip(events, manifest):
                where = "%s offset %d" % (name, off)
                if ev.wall_time != float(m[1]) or ev.step != int(m[2]):
                    fail("%s: wall/step %r/%d != %s/%s" % (where, ev.wall_time, ev.step, m[1], m[2]))
                what = ev.WhichOneof("what")
                if m[0] == "start":
                    if what != "session_log" or ev.session_log.status != 1:
                        fail("%s: not a SessionLog START: %s" % (where, ev))
                    continue
                if m[0] == "event":
                    # an event record: Event{wall_time, step} + the body verbatim,
                    # which protobuf parses into the very fields of the body
                    body = bytes.fromhex(m[3])
                    want = Event()
                    want.MergeFromString(body)
                    got = Event()
                    got.CopyFrom(ev)
                    got.ClearField("wall_time")
                    got.ClearField("step")
                    if got != want:
                        fail("%s: event record does not hold its body: %s" % (where, ev))
                    want.wall_time, want.step = float(m[1]), int(m[2])
                    if want.SerializeToString(deterministic=True) != datas[(name, off)]:
                        fail("%s: event record bytes are not Event{wall_time, step} + body" % where)
                    continue
                tag, bits = bytes.fromhex(m[3]).decode("utf-8"), int(m[4], 16)
                if what != "summary" or len(ev.summary.value) != 1 or ev.summary.value[0].tag != tag:
                    fail("%s: not a one-value summary for %r: %s" % (where, tag, ev))
                    continue
                v = ev.summary.value[0]
                if m[0] == "simple":
                    got = f32_bits(v.simple_value) if v.WhichOneof("value") == "simple_value" else None
                else:
                    t = v.tensor
                    got = None
                    if (v.WhichOneof("value") == "tensor" and t.dtype == 1 and len(t.tensor_shape.dim) == 0
                            and len(t.float_val) == 1 and v.metadata.plugin_data.plugin_name == "scalars"):
                        got = f32_bits(t.float_val[0])
                if got != bits:
                    fail("%s: value bits %r != %08x (%s form): %s" % (where, got, bits, m[0], v))
            total += len(events)
        print("checked %d compactor events in %d runs" % (total, len(runs)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--compactor":
        sys.exit(check_compactor(sys.argv[2]))
    sys.exit(main())
