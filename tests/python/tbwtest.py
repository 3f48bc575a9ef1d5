"""tbwtest.py -- helpers for the Python binding's tests: import the built
package, and read event files back with Google's protobuf runtime (Debian's
python3-protobuf, message classes built at run time from TensorBoard's field
numbers) and an independent CRC-32C (python3-crc32c).
"""
import os
import shutil
import struct
import sys
import tempfile
import unittest

import crc32c
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

import tbwal  # noqa: F401  (PYTHONPATH points at the built package)

BUILDDIR = os.environ.get("TBW_BUILDDIR", "")
HERE = os.path.dirname(os.path.abspath(__file__))


def _build_messages():
    """Event, Summary, ... (tensorflow/core/util/event.proto, summary.proto,
    tensor.proto) as proto2 so that presence of every field can be tested."""
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="tbwtest_event.proto", package="tbwtest",
                                             syntax="proto2")

    def msg(name, fields):
        m = fdp.message_type.add(name=name)
        for fname, num, ftype, label, tname in fields:
            f = m.field.add(name=fname, number=num, type=ftype, label=label)
            if tname:
                f.type_name = ".tbwtest." + tname
    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    msg("PluginData", [("plugin_name", 1, F.TYPE_STRING, opt, None),
                       ("content", 2, F.TYPE_BYTES, opt, None)])
    msg("SummaryMetadata", [("plugin_data", 1, F.TYPE_MESSAGE, opt, "PluginData"),
                            ("display_name", 2, F.TYPE_STRING, opt, None),
                            ("summary_description", 3, F.TYPE_STRING, opt, None)])
    msg("Dim", [("size", 1, F.TYPE_INT64, opt, None), ("name", 2, F.TYPE_STRING, opt, None)])
    msg("TensorShapeProto", [("dim", 2, F.TYPE_MESSAGE, rep, "Dim"),
                             ("unknown_rank", 3, F.TYPE_BOOL, opt, None)])
    msg("TensorProto", [("dtype", 1, F.TYPE_INT32, opt, None),
                        ("tensor_shape", 2, F.TYPE_MESSAGE, opt, "TensorShapeProto"),
                        ("tensor_content", 4, F.TYPE_BYTES, opt, None),
                        ("float_val", 5, F.TYPE_FLOAT, rep, None),
                        ("double_val", 6, F.TYPE_DOUBLE, rep, None)])
    msg("Value", [("tag", 1, F.TYPE_STRING, opt, None),
                  ("simple_value", 2, F.TYPE_FLOAT, opt, None),
                  ("tensor", 8, F.TYPE_MESSAGE, opt, "TensorProto"),
                  ("metadata", 9, F.TYPE_MESSAGE, opt, "SummaryMetadata")])
    msg("Summary", [("value", 1, F.TYPE_MESSAGE, rep, "Value")])
    msg("SessionLog", [("status", 1, F.TYPE_INT32, opt, None),
                       ("checkpoint_path", 2, F.TYPE_STRING, opt, None),
                       ("msg", 3, F.TYPE_STRING, opt, None)])
    msg("Event", [("wall_time", 1, F.TYPE_DOUBLE, opt, None),
                  ("step", 2, F.TYPE_INT64, opt, None),
                  ("file_version", 3, F.TYPE_STRING, opt, None),
                  ("summary", 5, F.TYPE_MESSAGE, opt, "Summary"),
                  ("session_log", 7, F.TYPE_MESSAGE, opt, "SessionLog")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    desc = pool.FindMessageTypeByName("tbwtest.Event")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


Event = _build_messages()
DT_FLOAT = 1
SESSION_START = 1


def _masked(data):
    c = crc32c.crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def read_records(path):
    """Every TFRecord payload of path; AssertionError on a torn or corrupt record."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    off = 0
    while off < len(data):
        if len(data) - off < 12:
            raise AssertionError("%s: torn header at offset %d" % (path, off))
        (n,) = struct.unpack_from("<Q", data, off)
        (lcrc,) = struct.unpack_from("<I", data, off + 8)
        if lcrc != _masked(data[off:off + 8]):
            raise AssertionError("%s: bad length CRC at offset %d" % (path, off))
        if len(data) - off < 16 + n:
            raise AssertionError("%s: torn record at offset %d" % (path, off))
        payload = data[off + 12:off + 12 + n]
        (dcrc,) = struct.unpack_from("<I", data, off + 12 + n)
        if dcrc != _masked(payload):
            raise AssertionError("%s: bad data CRC at offset %d" % (path, off))
        out.append(payload)
        off += 16 + n
    return out


def event_files(logdir):
    """Event files directly in logdir, in name order (TensorBoard's order)."""
    return sorted(os.path.join(logdir, n) for n in os.listdir(logdir) if "tfevents" in n)


def read_events(logdir):
    """Every Event in logdir's event files, in file then record order."""
    events = []
    for path in event_files(logdir):
        recs = read_records(path)
        for i, payload in enumerate(recs):
            ev = Event()
            ev.ParseFromString(payload)
            if i == 0 and ev.file_version != "brain.Event:2":
                raise AssertionError("%s: first record is not file_version brain.Event:2" % path)
            events.append(ev)
    return events


def value_of(v):
    """The float32 value of a Summary.Value, in either encoding."""
    if v.HasField("simple_value"):
        return v.simple_value
    t = v.tensor
    if t.dtype != DT_FLOAT:
        raise AssertionError("tag %s: tensor dtype %d is not DT_FLOAT" % (v.tag, t.dtype))
    if t.float_val:
        return t.float_val[0]
    return struct.unpack("<f", t.tensor_content)[0]


def scalars(logdir):
    """[(tag, step, value, wall_time)] of every scalar in logdir, in file order."""
    out = []
    for ev in read_events(logdir):
        if ev.HasField("summary"):
            for v in ev.summary.value:
                out.append((v.tag, ev.step, value_of(v), ev.wall_time))
    return out


def f32(x):
    """x rounded to float32, as it is exported."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


class TempDirCase(unittest.TestCase):
    """A test case with a fresh temporary directory self.tmp."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tbwpy-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def child_env():
    """Environment for child Python processes: same package path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env
