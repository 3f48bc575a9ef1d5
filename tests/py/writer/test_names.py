"""test_names.py -- tbwal.SummaryWriter has every public name of torch's
SummaryWriter (and the private ones frameworks call), with torch's signatures.

The lists come from torch itself (dir() of the class and of an instance), so
a torch upgrade that adds a method makes this fail until tbwal has it.
"""
import inspect

import pytest
import torch.utils.tensorboard as tb
from torch.utils.tensorboard.writer import FileWriter as TorchFileWriter

import tbwal

# Private names that frameworks touch: Lightning's TensorBoardLogger calls
# _get_file_writer(); torch's own add_embedding uses _encode.
PRIVATE_USED = ["_get_file_writer", "_encode"]


def public(obj):
    return [n for n in dir(obj) if not n.startswith("_")]


@pytest.fixture
def writers(tmp_path):
    t = tb.SummaryWriter(str(tmp_path / "torch"))
    w = tbwal.SummaryWriter(str(tmp_path / "tbwal"))
    yield t, w
    t.close()
    w.close()


def check_signature(name, want, got):
    """got has want's parameters (names, kinds, defaults) in order; extras only keyword-only."""
    wp = list(inspect.signature(want).parameters.values())
    gp = list(inspect.signature(got).parameters.values())
    assert [(p.name, p.kind, p.default) for p in gp[:len(wp)]] == \
        [(p.name, p.kind, p.default) for p in wp], name
    for p in gp[len(wp):]:
        assert p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD), (name, p)


def test_names_every_torch_method_and_attribute_is_there(writers):
    t, w = writers
    names = sorted(set(public(type(t)) + public(t) + PRIVATE_USED))
    assert len(names) >= 30, names
    missing = [n for n in names if not hasattr(w, n)]
    assert not missing, "tbwal.SummaryWriter lacks %s" % missing
    for n in names:
        assert callable(getattr(t, n)) == callable(getattr(w, n)), n


def test_names_signatures_match_torch(writers):
    t, w = writers
    check_signature("__init__", tb.SummaryWriter.__init__, tbwal.SummaryWriter.__init__)
    for n in sorted(set(public(type(t)) + PRIVATE_USED)):
        if callable(getattr(t, n)):
            check_signature(n, getattr(t, n), getattr(w, n))
    # tensorboardX's spelling
    assert "logdir" in inspect.signature(tbwal.SummaryWriter).parameters


def test_names_attributes_have_torch_values(writers, tmp_path):
    t, w = writers
    assert w.default_bins == t.default_bins
    for a in ("max_queue", "flush_secs", "filename_suffix", "purge_step"):
        assert getattr(w, a) == getattr(t, a), a
    assert w.log_dir == str(tmp_path / "tbwal")
    assert list(w.all_writers) == [w.log_dir]
    assert w.all_writers[w.log_dir] is w.file_writer
    assert w._get_file_writer() is w.file_writer


def test_names_file_writer_has_torch_file_writers_methods(writers):
    t, w = writers
    names = public(TorchFileWriter)
    assert set(names) >= {"add_event", "add_summary", "add_graph", "add_onnx_graph",
                          "get_logdir", "flush", "close", "reopen"}
    for n in names:
        check_signature("FileWriter." + n, getattr(t.file_writer, n), getattr(w.file_writer, n))
    check_signature("FileWriter.__init__", TorchFileWriter.__init__, tbwal.FileWriter.__init__)
    assert w.file_writer.get_logdir() == t.file_writer.get_logdir().replace("torch", "tbwal")


def test_names_close_clears_and_use_reopens_like_torch(tmp_path):
    for cls in (tb.SummaryWriter, tbwal.SummaryWriter):
        w = cls(str(tmp_path / cls.__module__))
        w.close()
        assert w.file_writer is None and w.all_writers is None, cls
        w.close()                                  # twice: nothing
        w.flush()                                  # closed: nothing
        fw = w._get_file_writer()                  # reopens
        assert fw is w.file_writer and fw is not None
        w.add_text("after", "reopened", 1)
        w.close()
