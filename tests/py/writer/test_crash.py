"""test_crash.py -- SIGKILL a child logging scalars, histograms, images and text
at random moments; after tbrecover everything acknowledged is in the event
files exactly once, recovered from the local journal and, with the local
disk deleted, from the sync folder.

Each round a new child (crash_child.py) opens the same log directory with a
sync folder and logs tags r<round>/<kind> at steps 0, 1, 2, ..., printing each
call once it has returned; the parent kills it after a random while. Then:

1. the built tools/tbrecover LOGDIR finishes the export: for every tag the
   steps are exactly the acknowledged ones, in order, plus at most the one
   call in flight at the kill; every payload is the one the child logged;
2. a snapshot of the sync folder taken right after the kills, restored with
   tbrecover --from SYNC/<run>-<id> into an empty directory, holds each
   record at most once and only records that were logged (a prefix of each
   tag's steps: what had not been shipped yet is not there);
3. a writer opened again and closed cleanly ships the rest; then the log
   directory (journal included) is deleted and tbrecover --from restores
   everything acknowledged, exactly once.
"""
import glob
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.util import tensor_util

import crash_child
import tbwal
from tbload import load

HERE = os.path.dirname(os.path.abspath(__file__))
ROUNDS = int(os.environ.get("TBW_PY_CRASH_ROUNDS", "6"))


def run_child(logdir, sync_dir, rnd, rng):
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "crash_child.py"), logdir, sync_dir,
                          str(rnd)], stdout=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"open\n"
        time.sleep(rng.uniform(0.05, 0.8))
    finally:
        p.send_signal(signal.SIGKILL)
        rest = p.stdout.read()
        p.wait()
        p.stdout.close()
    acked = []
    for line in rest.split(b"\n")[:-1]:     # the last piece is empty or torn: not acked
        kind, i = line.decode().split()
        acked.append((kind, int(i)))
    assert [i for _, i in acked] == list(range(len(acked)))
    return acked


def tbrecover(tools, *args):
    p = subprocess.run([str(tools["tbrecover"]), *args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    assert p.returncode == 0, (args, p.stdout.decode(), p.stderr.decode())
    return p.stdout.decode()


def decoded(kind, tp_bytes):
    """What TensorBoard's loader holds for one event, as a comparable value."""
    a = tensor_util.make_ndarray(TensorProto.FromString(tp_bytes))
    if kind == "scalar":
        return float(a)
    if kind == "hist":          # data_compat: k x 3 (left, right, count)
        return float(a[:, 2].sum())
    if kind == "image":         # [width, height, png]
        from PIL import Image
        img = np.asarray(Image.open(io.BytesIO(a[2])))
        return (a[0], a[1], int(img.min()), int(img.max()))
    return a.reshape(-1)[0].decode()


def expected(kind, i):
    if kind == "scalar":
        return float(np.float32(i * 0.5))
    if kind == "hist":
        return float(len(crash_child.hist_values(i)))
    if kind == "image":
        return (b"5", b"4", i % 251, i % 251)
    return crash_child.text_value(i)


PLUGIN = {"scalar": "scalars", "hist": "histograms", "image": "images", "text": "text"}


def steps_by_tag(root):
    """{(round, kind): [(step, decoded value), ...]} as TensorBoard reads root."""
    runs = load(root)
    assert list(runs) == ["."], list(runs)
    out = {}
    for tag, events in runs["."]["tensors"].items():
        rnd, kind = tag.split("/")[:2]          # r<round>/<kind>[/text_summary]
        plugins = {e[1] for e in events}
        assert plugins == {PLUGIN[kind]}, (tag, plugins)
        out[(int(rnd[1:]), kind)] = [(e[0], decoded(kind, e[5])) for e in events]
    return out


def check_exactly_once(got, acked_by_round, complete):
    """complete: every acked call is there (plus at most the one in flight);
    otherwise only a prefix per tag may be there. Always: no duplicate, no
    foreign record, every payload right."""
    total = 0
    for rnd, acked in acked_by_round.items():
        in_flight = len(acked)
        for kind in crash_child.KINDS:
            want = [i for k, i in acked if k == kind]
            have = got.get((rnd, kind), [])
            steps = [s for s, _ in have]
            for s, v in have:
                assert v == expected(kind, s), (rnd, kind, s, v)
            if complete:
                extra = steps[len(want):]
                assert steps[:len(want)] == want, (rnd, kind, steps[:10], want[:10])
                assert extra in ([], [in_flight]) and \
                    (not extra or crash_child.KINDS[in_flight % 4] == kind), (rnd, kind, extra)
            else:
                all_steps = [i for i in range(in_flight + 1) if crash_child.KINDS[i % 4] == kind]
                assert steps == all_steps[:len(steps)], (rnd, kind, steps[:10])
            total += len(want)
    for rnd, kind in got:
        assert rnd in acked_by_round and kind in crash_child.KINDS, (rnd, kind)
    return total


def test_crash_sigkill_loses_nothing_acknowledged_of_any_kind(tmp_path, tools):
    rng = random.Random(int(os.environ.get("TBW_SEED", str(os.getpid()))))
    logdir, sync = str(tmp_path / "run"), str(tmp_path / "sync")
    os.makedirs(sync)
    acked = {}
    for rnd in range(ROUNDS):
        acked[rnd] = run_child(logdir, sync, rnd, rng)
        if rnd % 3 == 2:      # sometimes recover between crashes, sometimes crash again first
            tbrecover(tools, logdir)
    assert sum(len(a) for a in acked.values()) > 20, acked
    sync_snapshot = str(tmp_path / "sync-at-kill")
    shutil.copytree(sync, sync_snapshot)

    # 1. the local journal
    tbrecover(tools, logdir)
    total = check_exactly_once(steps_by_tag(logdir), acked, complete=True)

    # 2. the sync folder as the kills left it: nothing twice, nothing invented
    (run_dir,) = glob.glob(os.path.join(sync_snapshot, "run-*"))
    partial = str(tmp_path / "from-sync-at-kill")
    tbrecover(tools, "--from", run_dir, partial)
    check_exactly_once(steps_by_tag(partial), acked, complete=False)

    # 3. a clean open/close ships the rest; the local disk is lost; the sync folder has it all
    tbwal.SummaryWriter(logdir, sync_dir=sync).close()
    shutil.rmtree(logdir)
    (run_dir,) = glob.glob(os.path.join(sync, "run-*"))
    restored = str(tmp_path / "restored")
    tbrecover(tools, "--from", run_dir, restored)
    assert check_exactly_once(steps_by_tag(restored), acked, complete=True) == total
    print("\ncrash test: %d rounds, %d acknowledged calls (scalars, histograms, images, text), "
          "all found once locally and from the sync folder" % (ROUNDS, total), file=sys.stderr)


def test_crash_hparams_subrun_reaches_the_sync_folder(tmp_path, tools):
    """add_hparams' sub-run is a tbwal run with the same sync_dir: restorable alone."""
    logdir, sync = str(tmp_path / "run"), str(tmp_path / "sync")
    os.makedirs(sync)
    with tbwal.SummaryWriter(logdir, sync_dir=sync) as w:
        w.add_text("notes", "main run", 0)
        w.add_hparams({"lr": 0.1, "opt": "adam"}, {"hp/acc": 0.75}, run_name="hp", global_step=2)
    want = load(logdir)
    shutil.rmtree(logdir)
    (hp_dir,) = glob.glob(os.path.join(sync, "hp-*"))
    (main_dir,) = glob.glob(os.path.join(sync, "run-*"))
    restored = str(tmp_path / "restored")
    tbrecover(tools, "--from", main_dir, restored)
    tbrecover(tools, "--from", hp_dir, os.path.join(restored, "hp"))
    got = load(restored)
    assert sorted(got) == [".", "hp"]
    strip = lambda r: {k: [e[:6] for e in v] for k, v in r["tensors"].items()}  # noqa: E731
    assert strip(got["hp"]) == strip(want["hp"])
    assert sorted(got["hp"]["tensors"]) == ["_hparams_/experiment", "_hparams_/session_end_info",
                                            "_hparams_/session_start_info", "hp/acc"]
    assert strip(got["."]) == strip(want["."])
