"""writer_child.py -- a training process for the TensorBoard tests.

    python writer_child.py LOGDIR --tags a,b --start 0 --stop 100 [--attempt K]
        [--purge-step N] [--sync-dir DIR] [--scalar-format tensor]
        [--compact-interval S] [--step-time S] [--blob-bytes N] [--hang]

Logs value(tag, step, attempt) for every tag at every step in [start, stop)
through tbwal.SummaryWriter and prints "acked STEP" once add_scalar has
returned for every tag of that step (what tbwal says is committed); with
--blob-bytes N each step also logs a text summary "blob" of N bytes (so the
compactor rotates its 16 MiB event files every few steps). With
--hang it then prints "done" and sleeps until it is killed (the tests
SIGKILL it: no close, no atexit); otherwise it closes the writer and prints
"closed".
"""
import argparse
import sys
import time

import tbwal


def value(tag, step, attempt=0):
    """Exactly representable in float32, distinct per tag, step and attempt."""
    return float(attempt * 100000 + step * 4 + (sum(map(ord, tag)) % 4) * 0.25)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("logdir")
    ap.add_argument("--tags", default="loss,acc")
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--stop", type=int, default=100)
    ap.add_argument("--attempt", type=int, default=0)
    ap.add_argument("--purge-step", type=int)
    ap.add_argument("--sync-dir")
    ap.add_argument("--sync-interval", type=float, default=0.2)
    ap.add_argument("--scalar-format", default="simple")
    ap.add_argument("--compact-interval", type=float, default=0.2)
    ap.add_argument("--step-time", type=float, default=0.0)
    ap.add_argument("--blob-bytes", type=int, default=0)
    ap.add_argument("--hang", action="store_true")
    a = ap.parse_args()
    kw = dict(purge_step=a.purge_step, scalar_format=a.scalar_format,
              compact_interval=a.compact_interval)
    if a.sync_dir:
        kw.update(sync_dir=a.sync_dir, sync_interval=a.sync_interval)
    w = tbwal.SummaryWriter(a.logdir, **kw)
    tags = a.tags.split(",")
    for step in range(a.start, a.stop):
        for t in tags:
            w.add_scalar(t, value(t, step, a.attempt), step)
        if a.blob_bytes:
            w.add_text("blob", ("%08d" % step) * (a.blob_bytes // 8), step)
        print("acked", step, flush=True)
        if a.step_time:
            time.sleep(a.step_time)
    if a.hang:
        if a.sync_dir:
            w.flush()      # shipped, so a lost disk loses nothing acknowledged
            print("flushed", flush=True)
        print("done", flush=True)
        while True:
            time.sleep(60)
    w.close()
    print("closed", flush=True)


if __name__ == "__main__":
    sys.exit(main())
