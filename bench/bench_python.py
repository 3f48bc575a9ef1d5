"""bench_python.py -- per-call cost of tbwal.SummaryWriter.add_scalar (default
INTERVAL durability) against a pure-Python baseline written here that encodes
the same events and buffers them the way torch.utils.tensorboard does: a
queue of 10 events, a background writer thread, a flush every 120 s, no fsync.

    PYTHONPATH=build/python /usr/bin/python3 bench/bench_python.py [N]

Prints microseconds per call (best of several runs; each run logs N scalars)
and the ratios, all measured in this one run. Also measures add_scalar with
the GIL released around each call, alone and beside a busy Python thread,
which is why INTERVAL mode keeps the GIL.
"""
import os
import queue
import shutil
import struct
import sys
import tempfile
import threading
import time

import crc32c

import tbwal

# ---- the baseline: a torch-like buffered pure-Python event writer ----------


def _varint(n):
    n &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode_scalar_event(tag, value, step, wall_time):
    """Event{wall_time=1, step=2, summary=5{value=1{tag=1, simple_value=2}}}."""
    t = tag.encode()
    val = b"\x0a" + _varint(len(t)) + t + b"\x15" + struct.pack("<f", value)
    summ = b"\x0a" + _varint(len(val)) + val
    ev = b"\x09" + struct.pack("<d", wall_time)
    if step:
        ev += b"\x10" + _varint(step)
    return ev + b"\x2a" + _varint(len(summ)) + summ


def _masked_crc(data):
    c = crc32c.crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def frame(data):
    head = struct.pack("<Q", len(data))
    return head + struct.pack("<I", _masked_crc(head)) + data + struct.pack("<I", _masked_crc(data))


class BufferedPyWriter:
    """torch's EventFileWriter, reduced: the caller encodes and queues (maxsize
    10); a thread frames, writes to a buffered file, flushes every 120 s."""

    def __init__(self, logdir, max_queue=10, flush_secs=120):
        os.makedirs(logdir, exist_ok=True)
        name = "events.out.tfevents.%010d.%s.%d.0.pybaseline" % (time.time(), "bench", os.getpid())
        self._f = open(os.path.join(logdir, name), "wb")
        self._f.write(frame(b"\x09" + struct.pack("<d", time.time()) + b"\x1a\x0dbrain.Event:2"))
        self._q = queue.Queue(max_queue)
        self._flush_secs = flush_secs
        self._closed = object()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        last = time.time()
        while True:
            try:
                data = self._q.get(True, self._flush_secs)
            except queue.Empty:
                data = None
            if data is self._closed:
                self._f.flush()
                return
            if data is not None:
                self._f.write(frame(data))
            now = time.time()
            if now - last > self._flush_secs:
                self._f.flush()
                last = now

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None):
        walltime = time.time() if walltime is None else walltime
        self._q.put(encode_scalar_event(tag, float(scalar_value), global_step or 0, walltime))

    def close(self):
        self._q.put(self._closed)
        self._t.join()
        self._f.close()


# ---- timing ------------------------------------------------------------------


def per_call_us(add, n, tag="loss"):
    t0 = time.perf_counter()
    for i in range(n):
        add(tag, 0.5, i)
    return (time.perf_counter() - t0) / n * 1e6


def best(fn, repeats):
    return min(fn() for _ in range(repeats))


def bench_tbwal(root, n, repeats, release_gil=False, busy_thread=False, durability="interval"):
    d = tempfile.mkdtemp(dir=root)
    w = tbwal.SummaryWriter(d, durability=durability)
    if release_gil:
        w._release_gil = True
    stop = threading.Event()
    busy = None
    if busy_thread:
        def spin():
            x = 0
            while not stop.is_set():
                x += 1
        busy = threading.Thread(target=spin)
        busy.start()
    try:
        per_call_us(w.add_scalar, min(n, 10000))  # warm up: map pages, tag table
        r = best(lambda: per_call_us(w.add_scalar, n), repeats)
    finally:
        stop.set()
        if busy:
            busy.join()
    t0 = time.perf_counter()
    w.close()
    close_s = time.perf_counter() - t0
    return r, close_s


def bench_baseline(root, n, repeats):
    d = tempfile.mkdtemp(dir=root)
    w = BufferedPyWriter(d)
    per_call_us(w.add_scalar, min(n, 10000))
    r = best(lambda: per_call_us(w.add_scalar, n), repeats)
    w.close()
    return r


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
    repeats = 5
    root = tempfile.mkdtemp(prefix="tbwbench-", dir=os.environ.get("TBW_BENCH_DIR"))
    try:
        enc = best(lambda: per_call_us(lambda t, v, s: encode_scalar_event(t, v, s, 1.0), n), repeats)
        base = bench_baseline(root, n, repeats)
        ours, close_s = bench_tbwal(root, n, repeats)
        rel, _ = bench_tbwal(root, n, repeats, release_gil=True)
        busy_keep, _ = bench_tbwal(root, max(n // 20, 1000), 3, busy_thread=True)
        busy_rel, _ = bench_tbwal(root, max(n // 20, 1000), 3, release_gil=True, busy_thread=True)
        always, _ = bench_tbwal(root, 200, 1, durability="always")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("tbwal python bench: %d calls per run, best of %d runs (us per add_scalar call)" % (n, repeats))
    print("  tbwal, durability=interval (default)       %8.3f us" % ours)
    print("  baseline: pure-Python torch-like writer     %8.3f us   (encoding alone: %.3f us)" % (base, enc))
    print("  ratio baseline / tbwal                      %8.2fx" % (base / ours))
    print("  tbwal, interval, GIL released per call      %8.3f us   (%.2fx the default)" % (rel, rel / ours))
    print("  beside a busy Python thread, GIL kept       %8.3f us" % busy_keep)
    print("  beside a busy Python thread, GIL released   %8.3f us   (%.2fx)" % (busy_rel, busy_rel / busy_keep))
    print("  tbwal, durability=always (fsync per call)   %8.1f us" % always)
    print("  close() after the last run (exports all)    %8.3f s" % close_s)
    target = ours <= 1.5 and ours < base
    print("target (<= 1.5 us and faster than the baseline): %s" % ("met" if target else "NOT met"))


if __name__ == "__main__":
    main()
