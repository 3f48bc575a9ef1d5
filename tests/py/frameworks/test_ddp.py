"""test_ddp.py -- torch.distributed DDP (2 processes, gloo, CPU) on tbwal:
rank 0 logs the run through torch's SummaryWriter under tbwal.patch(), and
every rank logs into its own run (logdir/rank-N), all with one sync_dir.
Every rank is SIGKILLed mid-run, the local disk (logdir, journals included)
is deleted, and tbrecover --from the sync folder restores every run: each
step that had been shipped (the writer's flush returned) is there exactly
once, in order, and nothing that was not logged."""
import os
import re
import shutil

import fwutil


def test_ddp_ranks_restored_from_the_sync_dir_after_sigkill_and_disk_loss(tmp_path):
    logdir, sync = tmp_path / "local", tmp_path / "drive"
    child = fwutil.Child("ddp_child.py", logdir, sync)
    try:
        child.wait_for(lambda c: c.count("rank-1", "loss") >= 15, 300, "15 DDP steps")
        step, t = child.last("rank-1", "loss")
        lag = fwutil.wait_fresh(logdir / "rank-1", "loss", step, t)
        child.wait_for(lambda c: all(c.count(r, "shipped") >= 3 for r in ("main", "rank-0", "rank-1")),
                       300, "3 shipments of every run")
    finally:
        fwutil.stop(child)  # SIGKILL to the process group: the spawner and both ranks
    acked = child.acked()
    shipped = {run: tags.pop("shipped")[-1] for run, tags in acked.items()}
    assert sorted(shipped) == ["main", "rank-0", "rank-1"]
    shutil.rmtree(logdir)                       # the VM is gone: only the sync folder is left
    folders = {}
    for d in os.listdir(sync):
        m = re.fullmatch(r"(.+)-[0-9a-f]{32}", d)
        assert m, "unexpected entry %r in the sync folder" % d
        folders.setdefault(m.group(1), []).append(sync / d)
    assert sorted(folders) == ["main", "rank-0", "rank-1"], folders
    total = 0
    for run, dirs in folders.items():
        out = logdir / run
        fwutil.recover(out, *dirs)
        (tag, steps), = acked[run].items()
        got = [s for t, s, _ in fwutil.event_records(out) if t == tag]
        # exactly once and in order, a prefix of what was logged...
        assert got == steps[:len(got)], (run, got[:5], steps[:5])
        # ...holding at least everything shipped before the kill
        assert len(got) >= steps.index(shipped[run]) + 1, (run, len(got), shipped[run])
        total += len(got)
    print("ddp: %d scalars of 3 runs restored from the sync folder; fresh after %.2f s" % (total, lag))
