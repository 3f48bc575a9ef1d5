"""test_add_event.py -- the binding's Writer.add_event (tbw_add_event): the
record reaches the event files as Event{wall_time, step} + body, read back by
TensorBoard's own loader; invalid bodies, oversized bodies and bad argument
types raise and write nothing; the record names its tag from the body."""
import glob
import os

import pytest

from tbwal import _tbwal
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.compat.proto import event_pb2, summary_pb2


def events(logdir):
    out = []
    for f in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
        out.extend(event_file_loader.LegacyEventFileLoader(f).Load())  # raw events, no data-compat migration
    return [e for e in out if e.WhichOneof("what") not in ("file_version", "session_log")]


def text_body(tag, text):
    md = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="text"))
    v = summary_pb2.Summary.Value(tag=tag, metadata=md)
    v.tensor.dtype = 7  # DT_STRING
    v.tensor.string_val.append(text.encode())
    return event_pb2.Event(summary=summary_pb2.Summary(value=[v])).SerializeToString()


def open_writer(tmp_path):
    w = _tbwal.Writer()
    w._open(str(tmp_path), compact_interval_ms=0)
    return w


def test_add_event_round_trips_through_tensorboards_loader(tmp_path):
    w = open_writer(tmp_path)
    body = text_body("notes", "hello")
    graph = event_pb2.Event(graph_def=b"\x0a\x03abc").SerializeToString()
    w.add_scalar("loss", 0.5, 1)
    w.add_event("notes", body, 2, 1700000000.25)
    w.add_event(None, graph, step=3)
    w.add_scalar("loss", 0.25, 4)
    w._flush()
    w._close()
    got = events(str(tmp_path))
    assert [e.step for e in got] == [1, 2, 3, 4]
    assert got[1].wall_time == 1700000000.25
    assert got[1].summary.value[0].tag == "notes"
    assert got[1].summary.value[0].tensor.string_val == [b"hello"]
    assert got[2].graph_def == b"\x0a\x03abc"
    e = event_pb2.Event()
    e.CopyFrom(got[1])
    e.ClearField("wall_time")
    e.ClearField("step")
    assert e.SerializeToString() == body


@pytest.mark.parametrize("body", [
    b"\x08\x01",                      # field 1 (wall_time) in the body
    b"\x1a\x02ab",                    # file_version
    b"\x2a\x05\x0a\x03\x0a\x01\xff",  # Value.tag not UTF-8
    b"\x2a\x05\x0a",                  # truncated
    b"",
])
def test_add_event_refuses_invalid_bodies_and_writes_nothing(tmp_path, body):
    w = open_writer(tmp_path)
    with pytest.raises(_tbwal.Error) as exc:
        w.add_event("t", body, 1, None)
    assert "add_event" in str(exc.value)
    w._flush()
    w._close()
    assert events(str(tmp_path)) == []


def test_add_event_argument_types(tmp_path):
    w = open_writer(tmp_path)
    with pytest.raises(TypeError):
        w.add_event("t", "not bytes", 1, None)
    with pytest.raises(TypeError):
        w.add_event(5, text_body("t", "x"), 1, None)
    with pytest.raises(_tbwal.Error):
        w.add_event("a\x00b", text_body("t", "x"), 1, None)
    w._close()


def test_add_event_above_16_mib_is_refused(tmp_path):
    w = open_writer(tmp_path)
    big = event_pb2.Event(graph_def=b"\0" * (16 << 20)).SerializeToString()
    with pytest.raises(_tbwal.Error) as exc:
        w.add_event(None, big, 1, None)
    assert "max_record_bytes" in str(exc.value)
    ok = event_pb2.Event(graph_def=b"\0" * ((16 << 20) - 16)).SerializeToString()
    w.add_event(None, ok, 2, None)
    w._flush()
    w._close()
    assert [e.step for e in events(str(tmp_path))] == [2]
