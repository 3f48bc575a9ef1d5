"""test_shared_open.py -- the shared-open rule from Python, and close()
racing add_scalar in other threads.

A logdir opened twice in one process shares one journal; the second
SummaryWriter's options take effect or raise InvalidArgument naming the
option, never silently ignored. The Colab re-run pattern (a cell re-run
with sync_dir added) ends with every scalar in the sync folder, so losing
the VM loses nothing: tbrecover --from restores every scalar.
"""
import glob
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

import tbwal
from tensorboard.backend.event_processing import event_accumulator


def read_scalars(logdir):
    """{tag: [(step, value), ...]} as TensorBoard reads the event files."""
    acc = event_accumulator.EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


CHILD = r"""
import sys, time
import tbwal
d, drive = sys.argv[1], sys.argv[2]
w = tbwal.SummaryWriter(d)                       # cell 1: no sync folder yet
for i in range(700):
    w.add_scalar("loss", i * 0.5, i)
w.flush()                                        # exported (and pruned) with no shipper
w2 = tbwal.SummaryWriter(d, sync_dir=drive)      # cell re-run with the Drive folder
for i in range(700, 1000):
    w2.add_scalar("loss", i * 0.5, i)
    w.add_scalar("acc", i * 0.25, i)
w2.flush()
print("flushed", flush=True)
time.sleep(600)                                  # the VM goes away meanwhile
"""


def run_then_lose_the_vm(child, d, drive, tools):
    """Run child (logdir d, sync folder drive) until it says "flushed",
    SIGKILL it, lose d, and restore d with tbrecover --from the folder."""
    p = subprocess.Popen([sys.executable, "-c", child, str(d), str(drive)],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "flushed"
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    shutil.rmtree(d)                                 # the local disk is gone
    runs = glob.glob(str(drive / "run-*"))
    assert len(runs) == 1, runs
    r = subprocess.run([str(tools["tbrecover"]), "--from", runs[0], str(d)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_colab_rerun_with_sync_dir_then_vm_lost_restores_every_scalar(tmp_path, tools):
    d, drive = tmp_path / "run", tmp_path / "drive"
    run_then_lose_the_vm(CHILD, d, drive, tools)
    got = read_scalars(d)
    assert got["loss"] == [(i, i * 0.5) for i in range(1000)]
    assert got["acc"] == [(i, i * 0.25) for i in range(700, 1000)]


CHILD_EVENTS = r"""
import sys, time
import numpy as np
import tbwal
d, drive = sys.argv[1], sys.argv[2]
w = tbwal.SummaryWriter(d)                       # cell 1: no sync folder yet
for i in range(300):
    w.add_scalar("loss", i * 0.5, i)
    if i % 10 == 0:
        w.add_histogram("weights", np.arange(i, i + 50, dtype=np.float64), i)
        w.add_text("note", "step %d" % i, i)
w.flush()                                        # exported (and pruned) with no shipper
w2 = tbwal.SummaryWriter(d, sync_dir=drive)      # cell re-run with the Drive folder
for i in range(300, 400):
    w2.add_scalar("loss", i * 0.5, i)
w2.flush()
print("flushed", flush=True)
time.sleep(600)                                  # the VM goes away meanwhile
"""


def test_colab_rerun_with_histograms_and_text_then_vm_lost_restores_every_record(tmp_path, tools):
    """The re-run pattern over non-scalar records: the records pruned before
    the sync folder was given are put back from the event files, histograms
    and text included, so every one of them (and every scalar after them)
    comes back from the folder alone."""
    d, drive = tmp_path / "run", tmp_path / "drive"
    run_then_lose_the_vm(CHILD_EVENTS, d, drive, tools)
    acc = event_accumulator.EventAccumulator(str(d), size_guidance={"scalars": 0, "histograms": 0,
                                                                   "tensors": 0})
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("loss")] == [(i, i * 0.5) for i in range(400)]
    hist = acc.Histograms("weights")
    assert [h.step for h in hist] == list(range(0, 300, 10))
    assert [h.histogram_value.num for h in hist] == [50.0] * 30
    assert [h.histogram_value.min for h in hist] == [float(i) for i in range(0, 300, 10)]
    texts = acc.Tensors("note/text_summary")
    assert [t.step for t in texts] == list(range(0, 300, 10))
    assert [t.tensor_proto.string_val[0].decode() for t in texts] == ["step %d" % i for i in range(0, 300, 10)]


def test_second_writer_conflicting_options_raise_naming_the_option(tmp_path):
    d = tmp_path / "run"
    w = tbwal.SummaryWriter(d, sync_dir=tmp_path / "drive")
    try:
        with pytest.raises(tbwal.InvalidArgument, match="scalar_format"):
            tbwal.SummaryWriter(d, scalar_format="tensor")
        with pytest.raises(tbwal.InvalidArgument, match="sync_dir"):
            tbwal.SummaryWriter(d, sync_dir=tmp_path / "elsewhere")
        with pytest.raises(tbwal.InvalidArgument, match="filename_suffix"):
            tbwal.SummaryWriter(d, filename_suffix=".b")
        # options that can take effect do: no error, and logging goes on
        w2 = tbwal.SummaryWriter(d, durability="always", compact_interval=0.05)
        w2.add_scalar("x", 1.0, 1)
        w2.close()
        w.add_scalar("x", 2.0, 2)
    finally:
        w.close()
    assert read_scalars(d)["x"] == [(1, 1.0), (2, 2.0)]


def test_shorter_compact_interval_of_a_second_writer_applies(tmp_path):
    d = tmp_path / "run"
    w = tbwal.SummaryWriter(d, compact_interval=0)   # export only on flush
    try:
        w.add_scalar("x", 1.0, 1)
        time.sleep(0.3)
        assert read_scalars(d) == {}
        w2 = tbwal.SummaryWriter(d, compact_interval=0.05)
        w.add_scalar("x", 2.0, 2)
        deadline = time.time() + 5
        while time.time() < deadline and len(read_scalars(d).get("x", [])) < 2:
            time.sleep(0.05)
        assert read_scalars(d)["x"] == [(1, 1.0), (2, 2.0)]   # no flush needed
        w2.close()
    finally:
        w.close()


def test_close_racing_add_scalar_in_8_threads(tmp_path):
    d = tmp_path / "run"
    for rnd in range(3):
        w = tbwal.SummaryWriter(d / str(rnd))
        acked = [[] for _ in range(8)]
        bad = []
        start = threading.Barrier(9)

        def log(k):
            start.wait()
            for step in range(3000):
                try:
                    w.add_scalar("t%d" % k, float(step), step)
                except tbwal.WriterClosed:
                    continue
                except Exception as e:   # JournalBusy was the bug
                    bad.append(repr(e))
                    return
                acked[k].append(step)

        ts = [threading.Thread(target=log, args=(k,)) for k in range(8)]
        for t in ts:
            t.start()
        start.wait()
        time.sleep(0.02 * (rnd + 1))
        w.close()
        for t in ts:
            t.join()
        w.close()
        assert bad == []
        got = read_scalars(d / str(rnd))
        for k in range(8):
            # nothing acknowledged is lost, nothing is duplicated
            assert [s for s, _ in got.get("t%d" % k, [])] == acked[k]
