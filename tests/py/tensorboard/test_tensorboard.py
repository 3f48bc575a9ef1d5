"""test_tensorboard.py -- what the real TensorBoard shows of tbwal's runs.

Every scenario runs against both of TensorBoard's loaders (the `load_fast`
fixture: the Rust data server with --load_fast=true, the Python loader with
--load_fast=false), through its HTTP API, and compares with what tbwal
acknowledged: writer_child.py prints "acked STEP" once add_scalar returned
for every tag of that step, and its values are a known function of tag, step
and attempt (writer_child.value). "Shows" means the exact list of
(step, value) points /data/plugin/scalars/scalars returns, so a point shown
twice or missing fails.
"""
import glob
import os
import shutil
import subprocess

import pytest

from conftest import expected
from writer_child import value

RUN = "run"


def shown(tb):
    """{tag: sorted [(step, value)]} for RUN, as the server returns them."""
    return {t: sorted(p) for t, p in tb.all_scalars(RUN).items()}


def wait_shows(tb, want, timeout=40):
    """Wait until the server shows exactly want, then for one more whole
    reload cycle (tb.settle: a later cycle could still add or drop points);
    return what it shows then."""
    tb.wait_for(lambda: shown(tb) == want, timeout=timeout)
    tb.settle()
    return shown(tb)


def settled(tb):
    """What the server shows once a whole reload cycle begun after this call
    is done: the files as they are now, fully read."""
    tb.settle()
    return shown(tb)


def event_files(logdir):
    return sorted(glob.glob(os.path.join(logdir, "*tfevents*")))


def run_tool(tools, name, *args, ok=(0,)):
    r = subprocess.run([str(tools[name])] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode in ok, "%s %s: exit %d\n%s%s" % (name, args, r.returncode, r.stdout, r.stderr)
    return r


def test_live_run_shows_each_committed_scalar_once_while_it_runs(tmp_path, load_fast, tensorboard, writer):
    root = tmp_path / "logs"
    logdir = root / RUN
    logdir.mkdir(parents=True)
    tb = tensorboard(root, load_fast)
    w = writer(logdir, "--tags", "loss,acc", "--stop", 120, "--step-time", 0.02)
    w.wait_line("acked 40")
    # While it runs: what is shown is a prefix of what was acknowledged,
    # without duplicates, and catches up with it.
    mid = w.acked
    got = tb.wait_for(lambda: (lambda s: s if all(len(s.get(t, [])) > mid for t in ("loss", "acc"))
                               else None)(shown(tb)), timeout=40)
    assert got, "the server never showed step %d while the run was live: %s" % (mid, shown(tb))
    for t, pts in got.items():
        assert pts == [(s, value(t, s)) for s in range(len(pts))], t
    w.wait()
    want = expected(["acc", "loss"], range(120))
    assert wait_shows(tb, want) == want


def test_writer_sigkilled_and_restarted_shows_every_acknowledged_scalar_once(tmp_path, load_fast,
                                                                            tensorboard, writer):
    root = tmp_path / "logs"
    logdir = root / RUN
    logdir.mkdir(parents=True)
    tb = tensorboard(root, load_fast)
    w = writer(logdir, "--tags", "loss,acc", "--stop", 80, "--hang")
    w.wait_line("done")
    w.kill()                                        # SIGKILL: no close, no atexit
    want = expected(["acc", "loss"], range(80))
    # Nothing exports a dead writer's tail but the next open: restart it.
    w2 = writer(logdir, "--tags", "loss,acc", "--start", 80, "--stop", 150)
    w2.wait()
    want = expected(["acc", "loss"], range(150))
    assert wait_shows(tb, want) == want
    # A server started afterwards shows the same.
    tb2 = tensorboard(root, load_fast)
    assert wait_shows(tb2, want) == want


def purge_want():
    """Attempt 0 logged loss, acc, lr at steps 0..119 and was killed; attempt
    1 resumed from a checkpoint at step 60 (purge_step=60) and logs only
    loss, steps 60..99."""
    want = expected(["acc", "loss", "lr"], range(60))
    want["loss"] += [(s, value("loss", s, 1)) for s in range(60, 100)]
    return want


def run_purge_scenario(logdir, writer):
    w = writer(logdir, "--tags", "loss,acc,lr", "--stop", 120, "--hang")
    w.wait_line("done")
    w.kill()
    w2 = writer(logdir, "--tags", "loss", "--start", 60, "--stop", 100, "--attempt", 1,
                "--purge-step", 60)
    w2.wait()


def test_purge_resume_hides_lost_steps_of_every_tag_when_tensorboard_starts_after(tmp_path, load_fast,
                                                                                 tensorboard, writer):
    root = tmp_path / "logs"
    logdir = root / RUN
    logdir.mkdir(parents=True)
    run_purge_scenario(logdir, writer)
    tb = tensorboard(root, load_fast)
    want = purge_want()
    assert wait_shows(tb, want) == want


def test_purge_resume_while_tensorboard_runs_through_it(tmp_path, load_fast, tensorboard, writer):
    root = tmp_path / "logs"
    logdir = root / RUN
    logdir.mkdir(parents=True)
    tb = tensorboard(root, load_fast)
    w = writer(logdir, "--tags", "loss,acc,lr", "--stop", 120, "--hang")
    w.wait_line("done")
    lost = expected(["acc", "loss", "lr"], range(120))
    assert wait_shows(tb, lost) == lost               # it has shown the lost attempt
    w.kill()
    w2 = writer(logdir, "--tags", "loss", "--start", 60, "--stop", 100, "--attempt", 1,
                "--purge-step", 60)
    w2.wait()
    want = purge_want()
    assert wait_shows(tb, want) == want


def test_recover_from_sync_folder_after_the_local_disk_is_lost(tmp_path, load_fast, tensorboard,
                                                                writer, tools):
    root = tmp_path / "logs"
    logdir = root / RUN
    logdir.mkdir(parents=True)
    drive = tmp_path / "drive"
    w = writer(logdir, "--tags", "loss,acc", "--stop", 90, "--sync-dir", drive, "--hang")
    w.wait_line("done")
    w.kill()
    shutil.rmtree(logdir)                             # the VM's disk: journal and event files
    (src,) = glob.glob(str(drive / "*"))
    r = run_tool(tools, "tbrecover", "--from", src, logdir)
    tb = tensorboard(root, load_fast)
    want = expected(["acc", "loss"], range(90))
    assert wait_shows(tb, want) == want, r.stdout


def rotated_run(logdir, writer, tools, steps=600, rounds=6, sync_dir=None):
    """A run in many event files: `rounds` writer sessions, each SIGKILLed
    before it exported anything, each exported by tbcompact --rotate 4096
    (a session starts a file; a session's file rotates past 4 KiB)."""
    per = steps // rounds
    for r in range(rounds):
        w = writer(logdir, "--tags", "loss,acc", "--start", r * per, "--stop", (r + 1) * per,
                   "--compact-interval", 0, "--hang")
        w.wait_line("done")
        w.kill()
        if sync_dir:
            run_tool(tools, "tbsync", logdir, sync_dir, "--once", "--quiet")
        run_tool(tools, "tbcompact", logdir, "--once", "--rotate", 4096, "--quiet")
    return expected(["acc", "loss"], range(per * rounds))


def test_rotation_across_many_event_files(tmp_path, load_fast, tensorboard, writer, tools):
    root = tmp_path / "logs"
    logdir = root / RUN
    logdir.mkdir(parents=True)
    tb = tensorboard(root, load_fast)
    want = rotated_run(logdir, writer, tools)
    assert len(event_files(logdir)) >= 5
    assert wait_shows(tb, want) == want
    tb2 = tensorboard(root, load_fast)
    assert wait_shows(tb2, want) == want


BLOB = 1 << 20     # per step: a 16 MiB event file rotates every ~16 steps


def test_rotation_within_one_writer_session_while_tensorboard_follows(tmp_path, load_fast, tensorboard,
                                                                      writer):
    """One live writer whose compactor rotates its event files (16 MiB) while
    the server follows: what is shown is always a prefix of what was
    acknowledged, each point once, and in the end exactly all of it."""
    root = tmp_path / "logs"
    logdir = root / RUN
    logdir.mkdir(parents=True)
    tb = tensorboard(root, load_fast)
    w = writer(logdir, "--tags", "loss,acc", "--stop", 70, "--blob-bytes", BLOB, "--step-time", 0.05)
    seen_files = set()
    while True:
        try:
            w.wait_line("acked", timeout=60)
        except AssertionError:
            break
        seen_files.update(event_files(logdir))
        got = shown(tb)
        for t, pts in got.items():
            assert pts == [(s, value(t, s)) for s in range(len(pts))], (t, pts[-3:])
        if w.acked == 69:
            break
    w.wait()
    files = event_files(logdir)
    assert len(files) >= 4, files
    assert len(seen_files) >= 3, seen_files      # files appeared while it ran
    want = expected(["acc", "loss"], range(70))
    assert wait_shows(tb, want) == want


def test_rotating_writer_sigkilled_and_restarted_shows_every_scalar_once(tmp_path, load_fast,
                                                                         tensorboard, writer):
    root = tmp_path / "logs"
    logdir = root / RUN
    logdir.mkdir(parents=True)
    tb = tensorboard(root, load_fast)
    w = writer(logdir, "--tags", "loss,acc", "--stop", 40, "--blob-bytes", BLOB, "--hang")
    w.wait_line("done")
    w.kill()                   # its compactor was mid-export: a torn tail, records not exported
    w2 = writer(logdir, "--tags", "loss,acc", "--start", 40, "--stop", 80, "--blob-bytes", BLOB)
    w2.wait()
    assert len(event_files(logdir)) >= 5, event_files(logdir)
    want = expected(["acc", "loss"], range(80))
    assert wait_shows(tb, want) == want
    tb2 = tensorboard(root, load_fast)
    assert wait_shows(tb2, want) == want


def test_tensor_scalar_format_shows_like_simple_value(tmp_path, load_fast, tensorboard, writer):
    root = tmp_path / "logs"
    logdir = root / RUN
    logdir.mkdir(parents=True)
    tb = tensorboard(root, load_fast)
    w = writer(logdir, "--tags", "loss,acc", "--stop", 70, "--scalar-format", "tensor")
    w.wait()
    want = expected(["acc", "loss"], range(70))
    assert wait_shows(tb, want) == want


def damage_one_record(path):
    """Change one byte of the float of a scalar in the middle of the file:
    its data CRC no longer matches and the payload still parses (the Rust
    server accepts such a record silently, the Python loader stops there)."""
    import struct
    data = open(path, "rb").read()
    offs, i = [], 0
    while i + 12 <= len(data):
        (n,) = struct.unpack_from("<Q", data, i)
        offs.append((i + 12, n))
        i += 16 + n
    start, n = offs[len(offs) // 2]
    rec = data[start:start + n]
    k = len(rec) - 5                   # Summary.Value.simple_value (fixed32) is last
    assert rec[k] == 0x15, rec
    with open(path, "r+b") as f:
        f.seek(start + k + 4)
        f.write(bytes([rec[k + 4] ^ 0x40]))


RESTART_PY = "Python loader (--load_fast=false)"   # in tbrecover's "restart TensorBoard" notes


@pytest.mark.parametrize("which", ["first", "middle", "last"])
def test_recover_replacing_a_damaged_event_file_while_tensorboard_runs(tmp_path, load_fast, tensorboard,
                                                                       writer, tools, which):
    """Both loaders end up showing every committed scalar exactly once,
    without a restart: the repair file opens with a SessionLog START above
    every kept step, which makes the running Python loader drop what it read
    from the replaced files before it reads them again (doc/recover.md)."""
    root = tmp_path / "logs"
    logdir = root / RUN
    logdir.mkdir(parents=True)
    drive = tmp_path / "drive"
    want = rotated_run(logdir, writer, tools, sync_dir=drive)
    tb = tensorboard(root, load_fast)
    assert wait_shows(tb, want) == want
    files = event_files(logdir)
    victim = {"first": files[0], "middle": files[len(files) // 2], "last": files[-1]}[which]
    damage_one_record(victim)
    (src,) = glob.glob(str(drive / "*"))
    r = run_tool(tools, "tbrecover", "--from", src, logdir)
    assert os.path.basename(victim) not in os.listdir(logdir)
    report = r.stdout + r.stderr
    # Nothing here is beyond repair for a running server: no note asks the
    # user to restart for the Python loader's sake.
    assert RESTART_PY not in report, report
    # Never a point twice, never one hidden: once a whole reload cycle that
    # began after tbrecover is done, the running server shows exactly the
    # committed scalars, and still does a cycle later.
    got = settled(tb)
    assert got == want, {t: (len(got.get(t, [])), len(want[t])) for t in want}
    assert settled(tb) == want
    tb2 = tensorboard(root, load_fast)
    assert wait_shows(tb2, want) == want


def sessions(logdir, writer, tools, spans, sync_dir):
    """One writer session per (start, stop, attempt), each SIGKILLed before
    it exported anything, shipped, then exported by tbcompact (each session
    starts a file). No purge_step: a session may log steps again."""
    for start, stop, attempt in spans:
        w = writer(logdir, "--tags", "loss,acc", "--start", start, "--stop", stop, "--attempt", attempt,
                   "--compact-interval", 0, "--hang", "--sync-dir", sync_dir)
        w.wait_line("done")
        w.kill()
        run_tool(tools, "tbsync", logdir, sync_dir, "--once", "--quiet")
        run_tool(tools, "tbcompact", logdir, "--once", "--quiet")


def loader_view(load_fast, spans, tags=("acc", "loss")):
    """What each loader shows of sessions logged without purge_step: the
    Python loader every point (a step logged again shows twice, with both
    values: they are different scalars); the Rust data server, per tag, a
    point at step s drops the points at steps >= s read before it."""
    out = {}
    for t in tags:
        pts = []
        for start, stop, attempt in spans:
            for st in range(start, stop):
                if load_fast:
                    pts = [p for p in pts if p[0] < st]
                pts.append((st, value(t, st, attempt)))
        out[t] = sorted(pts)
    return out


def test_recover_rewrites_kept_files_whose_steps_reach_the_damaged_ones(tmp_path, load_fast, tensorboard,
                                                                        writer, tools):
    """Session 3 logs steps 50..99 again (no purge_step) and its file is
    damaged. A START at 50 would drop steps 50..99 of session 2's intact
    file too, so tbrecover rewrites from that file on; the running server
    then shows what a server started afterwards shows."""
    root = tmp_path / "logs"
    logdir = root / RUN
    logdir.mkdir(parents=True)
    drive = tmp_path / "drive"
    spans = [(0, 50, 0), (50, 100, 0), (50, 100, 1)]
    sessions(logdir, writer, tools, spans, drive)
    files = event_files(logdir)
    assert len(files) == 3, files
    want = loader_view(load_fast, spans)
    tb = tensorboard(root, load_fast)
    assert wait_shows(tb, want) == want
    damage_one_record(files[2])
    (src,) = glob.glob(str(drive / "*"))
    r = run_tool(tools, "tbrecover", "--from", src, logdir)
    left = event_files(logdir)
    assert files[0] in left and files[1] not in left and files[2] not in left, left
    assert RESTART_PY not in r.stdout + r.stderr, r.stdout
    assert settled(tb) == want
    tb2 = tensorboard(root, load_fast)
    assert wait_shows(tb2, want) == want


def test_recover_with_another_writers_file_in_the_run_says_restart_tensorboard(tmp_path, load_fast,
                                                                              tensorboard, writer, tools):
    """Another writer's event file in the run's folder: a START would hide
    its points too, so tbrecover writes none and its report says "restart
    TensorBoard" for the Python loader; the Rust data server still comes
    out right without one, and a restarted server shows everything once."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    root = tmp_path / "logs"
    logdir = root / RUN
    logdir.mkdir(parents=True)
    drive = tmp_path / "drive"
    other = EventFileWriter(str(logdir), filename_suffix=".other")
    for st in range(10):
        other.add_event(event_pb2.Event(wall_time=1.0 + st, step=st, summary=summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag="other", simple_value=float(st))])))
    other.close()
    want = rotated_run(logdir, writer, tools, sync_dir=drive)
    want["other"] = [(st, float(st)) for st in range(10)]
    tb = tensorboard(root, load_fast)
    assert wait_shows(tb, want) == want
    files = [f for f in event_files(logdir) if ".tbwal-" in f]
    damage_one_record(files[len(files) // 2])
    (src,) = glob.glob(str(drive / "*"))
    r = run_tool(tools, "tbrecover", "--from", src, logdir)
    report = r.stdout + r.stderr
    assert "restart TensorBoard if it is running on this logdir: other writers' event files" in report, report
    assert RESTART_PY in report
    if load_fast:
        assert settled(tb) == want
    tb.stop()
    tb2 = tensorboard(root, load_fast)
    assert wait_shows(tb2, want) == want
