"""patch_torch.py -- unchanged torch.utils.tensorboard code on tbwal, via tbwal.patch().

    python examples/patch_torch.py [LOGDIR] [SYNC_DIR]

Then `tensorboard --logdir LOGDIR`. Kill it with kill -9 mid-run: every step
it logged is in the event files (run `tbrecover LOGDIR`, or just start it again).
"""
import math
import sys
import time

import tbwal

logdir = sys.argv[1] if len(sys.argv) > 1 else "runs/patch_torch"
tbwal.patch(sync_dir=sys.argv[2] if len(sys.argv) > 2 else None)   # before the writer is made

from torch.utils.tensorboard import SummaryWriter  # noqa: E402  (imported after patch())

with SummaryWriter(logdir) as w:                    # a tbwal.SummaryWriter now
    for step in range(200):
        w.add_scalar("loss", math.exp(-step / 50), step)
        time.sleep(0.02)
print("logged 200 steps to", logdir)
