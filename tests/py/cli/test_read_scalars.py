"""test_read_scalars.py -- tbwal.read_scalars(), read_scalars_df() and
tbwal.recover() as a user calls them: what a logdir holds comes back exactly
once whether it is in the event files, still only in the journal (a killed
writer, a live one), or both; event files of other writers are read; the
DataFrame is tbparse's; recover() returns the report `tbwal recover --json`
prints, and finds the run in a sync root like the command does.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

import tbwal

from conftest import BUILDDIR


def logged(n, tags=("loss", "acc")):
    """What the writers below log: (step, tag, float32 value)."""
    import struct
    out = []
    for i in range(n):
        for k, t in enumerate(tags):
            v = 1.0 / (i + 1) + k
            out.append((i, t, struct.unpack("<f", struct.pack("<f", v))[0]))
    return out


def log_in_child(logdir, n, *, die=False, compact_interval=1.0, sync_dir=None, extra=""):
    """Log n steps from a child process; die=True: os._exit without close."""
    code = textwrap.dedent("""
        import os, sys, tbwal
        w = tbwal.SummaryWriter(sys.argv[1], compact_interval=%r, sync_dir=%r)
        for i in range(%d):
            for k, t in enumerate(("loss", "acc")):
                w.add_scalar(t, 1.0 / (i + 1) + k, i)
    """) % (compact_interval, sync_dir, n) + extra + textwrap.dedent("""
        if %r:
            os._exit(0)
        w.close()
    """) % (die,)
    subprocess.run([sys.executable, "-c", code, str(logdir)], check=True)


def triples(rows):
    return sorted((r["step"], r["tag"], r["value"]) for r in rows)


def test_exported_run_reads_back_exactly_once(tmp_path):
    log_in_child(tmp_path / "run", 50)
    rows = tbwal.read_scalars(tmp_path / "run")
    assert triples(rows) == sorted(logged(50))
    assert all(set(r) == {"step", "tag", "value", "wall_time"} for r in rows)
    assert all(r["wall_time"] > 1e9 for r in rows)


def test_killed_writer_journal_only_reads_back(tmp_path):
    # nothing exported: the scalars are only in the journal
    log_in_child(tmp_path / "run", 40, die=True, compact_interval=0)
    assert not [f for f in os.listdir(tmp_path / "run") if "tfevents" in f]
    assert triples(tbwal.read_scalars(tmp_path / "run")) == sorted(logged(40))


def test_part_exported_part_in_journal_counts_each_once(tmp_path):
    # 30 steps exported by flush(), 20 more only in the journal
    log_in_child(tmp_path / "run", 30, die=True, compact_interval=0, extra=textwrap.dedent("""
        w.flush()
        for i in range(30, 50):
            for k, t in enumerate(("loss", "acc")):
                w.add_scalar(t, 1.0 / (i + 1) + k, i)
    """))
    rows = tbwal.read_scalars(tmp_path / "run")
    assert triples(rows) == sorted(logged(50))


def test_live_writer_reads_everything_committed(tmp_path):
    w = tbwal.SummaryWriter(tmp_path / "run", compact_interval=0.05)
    try:
        for i in range(200):
            w.add_scalar("loss", 1.0 / (i + 1), i)
            if i % 50 == 0:
                rows = tbwal.read_scalars(tmp_path / "run")
                assert [r["step"] for r in rows] == list(range(i + 1))
        rows = tbwal.read_scalars(tmp_path / "run")
        assert [r["step"] for r in rows] == list(range(200))
    finally:
        w.close()


def test_other_writers_event_files_are_read(tmp_path):
    from torch.utils.tensorboard import SummaryWriter as TorchWriter
    w = TorchWriter(str(tmp_path / "torch"))
    for i in range(25):
        w.add_scalar("loss", 0.5 ** i, i)
        w.add_scalar("acc", i / 25.0, i, new_style=True)   # a rank-0 tensor, plugin "scalars"
    w.close()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    ea = EventAccumulator(str(tmp_path / "torch"))
    ea.Reload()
    want = sorted([(e.step, "loss", e.value) for e in ea.Scalars("loss")] +
                  [(i, "acc", pytest.approx(i / 25.0, rel=1e-6)) for i in range(25)])
    got = triples(tbwal.read_scalars(tmp_path / "torch"))
    assert got == want


def test_dataframe_is_tbparse_layout(tmp_path):
    pd = pytest.importorskip("pandas")   # pinned in tests/requirements.txt
    from tbparse import SummaryReader
    log_in_child(tmp_path / "run", 30)
    df = tbwal.read_scalars(tmp_path / "run", pandas=True)
    assert list(df.columns) == ["step", "tag", "value"]
    ref = SummaryReader(str(tmp_path / "run")).scalars
    assert list(ref.columns) == list(df.columns)
    key = ["tag", "step"]
    pd.testing.assert_frame_equal(df.sort_values(key).reset_index(drop=True),
                                  ref.sort_values(key).reset_index(drop=True), check_dtype=False)
    dfw = tbwal.read_scalars_df(tmp_path / "run", wall_time=True)
    refw = SummaryReader(str(tmp_path / "run"), extra_columns={"wall_time"}).scalars
    assert list(dfw.columns) == list(refw.columns) == ["step", "tag", "value", "wall_time"]
    assert sorted(dfw["wall_time"].round(3)) == sorted(refw["wall_time"].round(3))


def test_missing_logdir_raises_notfound(tmp_path):
    with pytest.raises(tbwal.NotFound):
        tbwal.read_scalars(tmp_path / "nope")


def test_recover_returns_the_report_the_command_prints(tmp_path):
    log_in_child(tmp_path / "a", 20, die=True, compact_interval=0)
    subprocess.run(["cp", "-a", str(tmp_path / "a"), str(tmp_path / "b")], check=True)
    rep = tbwal.recover(tmp_path / "a")
    out = subprocess.run([str(BUILDDIR / "tools" / "tbwal"), "recover", "--json", str(tmp_path / "b")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    cli = json.loads(out.stdout)
    assert rep["schema"] == cli["schema"] == "tbwal.recover/1"
    assert rep["status"] == cli["status"] == "recovered"
    assert rep["code"] == 0
    for k in ("total_scalars", "exported", "last_seq", "lost", "event_files", "files_replaced"):
        assert rep[k] == cli[k], k
    strip = lambda tags: [{k: v for k, v in t.items() if k != "last_wall_time"} for t in tags]  # noqa: E731
    assert strip(rep["tags"]) == strip(cli["tags"])
    assert rep["total_scalars"] == 40
    assert triples(tbwal.read_scalars(tmp_path / "a")) == sorted(logged(20))


def test_recover_finds_the_run_in_a_sync_root(tmp_path):
    root = tmp_path / "drive"
    log_in_child(tmp_path / "exp1", 10, sync_dir=str(root))
    subprocess.run(["rm", "-rf", str(tmp_path / "exp1")], check=True)
    rep = tbwal.recover(tmp_path / "exp1", from_=root)
    assert rep["status"] == "recovered" and rep["total_scalars"] == 20
    # a second run of the same name: ambiguous, unless run_id picks one
    subprocess.run(["rm", "-rf", str(tmp_path / "exp1")], check=True)
    log_in_child(tmp_path / "exp1", 15, sync_dir=str(root))
    ids = sorted(d.rsplit("-", 1)[1] for d in os.listdir(root))
    subprocess.run(["rm", "-rf", str(tmp_path / "exp1")], check=True)
    with pytest.raises(ValueError, match="2 runs named 'exp1'"):
        tbwal.recover(tmp_path / "exp1", from_=root)
    newest = max(os.listdir(root), key=lambda d: os.path.getmtime(root / d)).rsplit("-", 1)[1]
    assert newest in ids
    rep = tbwal.recover(tmp_path / "exp1", from_=[root], run_id=newest[:8])
    assert rep["total_scalars"] == 30


def test_recover_refused_beside_a_live_writer_is_a_report(tmp_path):
    w = tbwal.SummaryWriter(tmp_path / "run")
    try:
        w.add_scalar("loss", 1.0, 0)
        rep = tbwal.recover(tmp_path / "run")
        assert rep["status"] == "refused"
        assert rep["code"] < 0
        assert rep["message"]   # why (here: this process's writer exports the journal)
    finally:
        w.close()
