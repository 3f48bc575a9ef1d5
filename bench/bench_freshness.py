"""bench_freshness.py -- commit -> visible through TensorBoard's HTTP API.

A tbwal.SummaryWriter logs one scalar every --period seconds; a poller asks
a real TensorBoard (tests/py/tensorboard/tbserver.py: loopback, free port,
stopped at the end) for /data/plugin/scalars/scalars every --poll seconds
and notes when each step first appears. Latency = first seen - the moment
add_scalar returned (committed). Prints p50/p99/max per loader and per
--reload_interval (1 and TensorBoard's default, 5), for the writer's
compact_interval. Figures only: nothing here asserts a time.

    PYTHONPATH=build/python /work/venv/bin/python bench/bench_freshness.py \
        [--steps 60] [--period 0.1] [--compact-interval 1.0] [--loaders rust,python]
"""
import argparse
import os
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "tests", "py", "tensorboard"))

import tbwal  # noqa: E402
from tbserver import TensorBoard  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def one(load_fast, reload_interval, a):
    root = tempfile.mkdtemp(prefix="tbw-fresh-")
    logdir = os.path.join(root, "logs", "run")
    os.makedirs(logdir)
    tb = TensorBoard(os.path.join(root, "logs"), load_fast, reload_interval=reload_interval,
                     log_path=os.path.join(root, "tb.log"))
    committed, seen = {}, {}
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            try:
                pts = tb.scalars("run", "loss")
            except Exception:
                pts = []
            now = time.monotonic()
            for s, _v in pts:
                seen.setdefault(s, now)
            time.sleep(a.poll)

    try:
        tb.start()
        w = tbwal.SummaryWriter(logdir, compact_interval=a.compact_interval)
        w.add_scalar("loss", -1.0, -1)        # the run exists before the clock starts
        tb.wait_for(lambda: tb.scalars("run", "loss"), timeout=60)
        t = threading.Thread(target=poll, daemon=True)
        t.start()
        for step in range(a.steps):
            w.add_scalar("loss", float(step), step)
            committed[step] = time.monotonic()
            time.sleep(a.period)
        deadline = time.monotonic() + 3 * (reload_interval or 5) + 10
        while len([s for s in committed if s in seen]) < len(committed) and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        t.join()
        w.close()
    finally:
        stop.set()
        tb.stop()
        shutil.rmtree(root, ignore_errors=True)
    lat = [seen[s] - committed[s] for s in committed if s in seen]
    return lat, len(committed) - len(lat)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--period", type=float, default=0.1)
    ap.add_argument("--poll", type=float, default=0.05)
    ap.add_argument("--compact-interval", type=float, default=1.0)
    ap.add_argument("--loaders", default="rust,python")
    ap.add_argument("--reload", default="1,5", help="reload intervals to try (5 is TensorBoard's default)")
    a = ap.parse_args()
    print("commit -> visible in TensorBoard's HTTP API; %d scalars, one per %.2f s, compact_interval %.2f s"
          % (a.steps, a.period, a.compact_interval))
    print("%-8s %-16s %8s %8s %8s %7s" % ("loader", "reload_interval", "p50 s", "p99 s", "max s", "unseen"))
    for name in a.loaders.split(","):
        for ri in (int(x) for x in a.reload.split(",")):
            lat, unseen = one(name == "rust", ri, a)
            print("%-8s %-16s %8.2f %8.2f %8.2f %7d" % (name, "%d%s" % (ri, " (default)" if ri == 5 else ""),
                                                       pct(lat, 50), pct(lat, 99),
                                                       max(lat) if lat else float("nan"), unseen), flush=True)


if __name__ == "__main__":
    main()
