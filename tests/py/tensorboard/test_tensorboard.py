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
    """Wait until the server shows exactly want; return what it shows last."""
    got = tb.wait_for(lambda: shown(tb) == want and shown(tb), timeout=timeout)
    return got if got else shown(tb)


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


@pytest.mark.parametrize("which", ["first", "middle", "last"])
def test_recover_replacing_a_damaged_event_file_while_tensorboard_runs(tmp_path, load_fast, tensorboard,
                                                                       writer, tools, which, request):
    if not load_fast:
        # Measured: the running Python loader keeps what it read from the
        # replaced files and reads tbrecover's new file after them, so the
        # records re-exported after a kept prefix can show twice; and when the
        # whole run was rewritten it logged "Purging 1200 expired tensor
        # events" at the new file's START and then showed all of one tag but
        # only a prefix of the other (acc 600 of 600, loss 25 of 600) for 40 s,
        # while a fresh server on the same files showed everything. Not fixed:
        # an expected failure that still runs, so a fix shows up as XPASS.
        request.applymarker(pytest.mark.xfail(strict=False, reason="running Python loader after "
                                              "tbrecover: one tag only partly re-read (see comment)"))
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
    # Never a point twice, never one hidden: after the next reloads the
    # running server shows exactly the committed scalars.
    got = wait_shows(tb, want)
    if got != want:
        assert "restart TensorBoard" in r.stdout + r.stderr, (r.stdout, r.stderr)
        tb2 = tensorboard(root, load_fast)
        assert wait_shows(tb2, want) == want
    assert got == want, {t: (len(got.get(t, [])), len(want[t])) for t in want}
