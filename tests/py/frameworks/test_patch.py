"""test_patch.py -- tbwal.patch()/unpatch(): torch.utils.tensorboard and
tensorboardX hand out journal-backed writers to code that does not change its
imports, also to modules imported after patch(); options apply to every writer;
idempotent; unpatch() restores the originals exactly. Each test runs in a fresh
interpreter, since what it checks is what import does."""
import subprocess
import sys
import textwrap

import fwutil

PRELUDE = """
import sys, os
sys.path.insert(0, os.path.join(os.getcwd(), "children"))
import no_tf
"""


def run(code, tmp_path):
    r = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)], cwd=str(fwutil.HERE),
                       env=fwutil.child_env(TMP=tmp_path), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=300)
    assert r.returncode == 0, r.stdout.decode()[-3000:]
    return r.stdout.decode()


def test_patch_reaches_modules_imported_later_and_unpatch_restores_them(tmp_path):
    out = run("""
        import tbwal
        assert "torch.utils.tensorboard" not in sys.modules and "tensorboardX" not in sys.modules
        tbwal.patch(compact_interval=0.25, durability="always")
        tbwal.patch(compact_interval=0.25, durability="always")        # idempotent
        from torch.utils.tensorboard import SummaryWriter               # imported after patch()
        import torch.utils.tensorboard.writer as tw
        import tensorboardX, tensorboardX.writer
        assert SummaryWriter is tw.SummaryWriter
        assert issubclass(SummaryWriter, tbwal.SummaryWriter)
        assert issubclass(tensorboardX.SummaryWriter, tbwal.SummaryWriter)
        assert tensorboardX.SummaryWriter is tensorboardX.writer.SummaryWriter
        tmp = os.environ["TMP"]
        w = SummaryWriter(os.path.join(tmp, "torch"))
        assert w._opts["durability"] == tbwal.writer._DURABILITY["always"], w._opts
        assert w._opts["compact_interval_ms"] == 250
        w.add_scalar("loss", 0.5, 1); w.close()
        x = tensorboardX.SummaryWriter(logdir=os.path.join(tmp, "tbx"), compact_interval=0)
        assert x._opts["compact_interval_ms"] == 0 and x.logdir == x.log_dir   # the writer's own keyword wins
        x.add_scalar("acc", 0.25, 2); x.close()
        tbwal.unpatch()
        tbwal.unpatch()
        import torch.utils.tensorboard as tub
        for m in (tub, tw):
            assert m.SummaryWriter.__module__ == "torch.utils.tensorboard.writer", m.SummaryWriter
        for m in (tensorboardX, tensorboardX.writer):
            assert m.SummaryWriter.__module__ == "tensorboardX.writer", m.SummaryWriter
        assert tub.SummaryWriter is tw.SummaryWriter and tensorboardX.SummaryWriter is tensorboardX.writer.SummaryWriter
        assert not any(type(f).__module__ == "tbwal.patch" for f in sys.meta_path)
        print("OK")
    """, tmp_path)
    assert out.strip().endswith("OK")
    assert fwutil.event_records(tmp_path / "torch") == [("loss", 1, 0.5)]
    assert fwutil.event_records(tmp_path / "tbx") == [("acc", 2, 0.25)]


def test_patch_of_modules_already_imported_and_the_name_bound_before_it(tmp_path):
    out = run("""
        import torch.utils.tensorboard as tub
        from torch.utils.tensorboard import SummaryWriter as bound_before   # cannot be changed
        import tensorboardX
        orig_torch, orig_tbx = tub.SummaryWriter, tensorboardX.SummaryWriter
        import tbwal
        tbwal.patch()
        assert issubclass(tub.SummaryWriter, tbwal.SummaryWriter)
        assert issubclass(tub.writer.SummaryWriter, tbwal.SummaryWriter)
        assert issubclass(tensorboardX.SummaryWriter, tbwal.SummaryWriter)
        assert bound_before is orig_torch and not issubclass(bound_before, tbwal.SummaryWriter)
        tbwal.unpatch()
        assert tub.SummaryWriter is orig_torch and tub.writer.SummaryWriter is orig_torch
        assert tensorboardX.SummaryWriter is orig_tbx and tensorboardX.writer.SummaryWriter is orig_tbx
        tbwal.patch(); tbwal.unpatch()                  # a second round trip restores them too
        assert tub.SummaryWriter is orig_torch and tensorboardX.SummaryWriter is orig_tbx
        print("OK")
    """, tmp_path)
    assert out.strip().endswith("OK")


def test_patch_refuses_bad_options_and_changes_nothing(tmp_path):
    out = run("""
        import tbwal, torch.utils.tensorboard as tub
        orig = tub.SummaryWriter
        for bad, exc in (({"durability": "sometimes"}, tbwal.InvalidArgument),
                         ({"compact_interval": -1}, ValueError),
                         ({"journal_dir": "/tmp/x"}, TypeError),
                         ({"flush_secs": 3}, TypeError)):
            try:
                tbwal.patch(**bad)
            except exc as e:
                print("refused:", e)
            else:
                raise AssertionError("accepted %r" % bad)
            assert tub.SummaryWriter is orig
        print("OK")
    """, tmp_path)
    assert out.strip().endswith("OK")
    assert "durability must be one of" in out and "unknown option journal_dir" in out
