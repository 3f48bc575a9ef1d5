"""bench_python.py -- per-call cost of tbwal.SummaryWriter.add_scalar (default
INTERVAL durability) against a pure-Python baseline written here that encodes
the same events and buffers them the way torch.utils.tensorboard does: a
queue of 10 events, a background writer thread, a flush every 120 s, no fsync.

    PYTHONPATH=build/python /usr/bin/python3 bench/bench_python.py [N]
    /usr/bin/python3 bench/bench_python.py abi [N] [--repeats R] [--no-callgrind]

Prints microseconds per call (best of several runs; each run logs N scalars)
and the ratios, all measured in this one run. Also measures add_scalar with
the GIL released around each call, alone and beside a busy Python thread,
which is why INTERVAL mode keeps the GIL.

`abi`: what the stable ABI costs per add_scalar (issue 13: abi3 unless it
costs more than 5 %). Compiles python/_tbwal.c four times with the same
compiler and flags, each linked with the same libtbwal.so of the autotools
build ($TBW_BUILDDIR, default build/): the per-version build (no
Py_LIMITED_API), the abi3 build as shipped (Py_LIMITED_API 3.9; add_scalar
is METH_FASTCALL on a CPython >= 3.10, chosen at import), the abi3 build
with -DTBW_PY_NO_FASTCALL (METH_VARARGS: what CPython 3.9 runs, and what
the wheel did before), plus a second copy of the per-version build as a
control (its ratio shows the timings' noise floor). All four are loaded into this one
process and timed interleaved (the order rotates every repeat), each run N
calls into its own journal; it prints the median and best microseconds per
call, the ratios to the per-version build, the load average, and (unless
--no-callgrind, or valgrind is missing) callgrind's instructions per call:
a subprocess per build logging 20000 and 100000 scalars (PYTHONHASHSEED=0),
(Ir(100000) - Ir(20000)) / 80000.
"""
import os
import queue
import shutil
import struct
import sys
import tempfile
import threading
import time

crc32c = tbwal = None   # imported by main() for the default bench (abi needs neither)

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


# ---- abi: the stable ABI's cost (see the docstring) --------------------------

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_FAST = int(sys.version_info >= (3, 10))   # add_scalar's METH_FASTCALL, chosen at import
ABI_BUILDS = [  # name, extra compiler flags, (_tbwal._fastcall, _tbwal._limited_api) expected
    ("per-version", ["-DTBW_PY_FULL_API"], (1, 0)),
    ("abi3", [], (_FAST, 0x03090000)),                               # the wheel, as shipped
    ("abi3-varargs", ["-DTBW_PY_NO_FASTCALL"], (0, 0x03090000)),     # as on 3.9; the wheel before
    # the per-version build again, a separate copy: its ratio is the noise floor of the timings
    ("control", ["-DTBW_PY_FULL_API"], (1, 0)),
]
ABI_COMPARED = ("abi3", "abi3-varargs")


def abi_compile(out_dir):
    """{name: path of its _tbwal .so}, compiled from python/_tbwal.c like
    mk/python.am does, flags identical but the API macro."""
    import subprocess
    import sysconfig
    bdir = os.path.abspath(os.environ.get("TBW_BUILDDIR", os.path.join(TOP, "build")))
    libs = os.path.join(bdir, ".libs")
    if not os.path.exists(os.path.join(libs, "libtbwal.so")):
        sys.exit("bench abi: no %s/libtbwal.so: build first (scripts/build.sh)" % libs)
    cc = os.environ.get("CC", "cc")
    out = {}
    for name, flags, _ in ABI_BUILDS:
        d = os.path.join(out_dir, name)
        os.makedirs(d)
        so = os.path.join(d, "_tbwal.so")
        cmd = [cc, "-shared", "-fPIC", "-O2", "-std=gnu11", "-I", sysconfig.get_paths()["include"],
               "-I", os.path.join(TOP, "include")] + flags + [
               "-o", so, os.path.join(TOP, "python", "_tbwal.c"), "-L", libs, "-ltbwal",
               "-Wl,-rpath," + libs, "-pthread"]
        subprocess.check_call(cmd)
        out[name] = so
    return out


def abi_load(name, so):
    """Load one build of the extension as a module of its own (each .so is a
    separate copy of the binding; the library, libtbwal.so, is shared)."""
    import importlib.machinery
    import importlib.util
    loader = importlib.machinery.ExtensionFileLoader("tbwal._tbwal", so)
    spec = importlib.util.spec_from_file_location("tbwal._tbwal", so, loader=loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    want = [b[2] for b in ABI_BUILDS if b[0] == name][0]
    if (mod._fastcall, mod._limited_api) != want:
        sys.exit("bench abi: %s is built as (fastcall, limited api) %r, not %r"
                 % (name, (mod._fastcall, mod._limited_api), want))
    return mod


def abi_time(mods, root, n, repeats):
    """{name: [us per call of each run]}, runs interleaved, order rotating.
    compact_interval_ms=0 and a flush after each (untimed) run: no background
    export during a timed run, and each journal stays small."""
    ws, times = {}, {name: [] for name in mods}
    for name, mod in mods.items():
        w = mod.Writer()
        w._open(tempfile.mkdtemp(dir=root), compact_interval_ms=0)
        per_call_us(w.add_scalar, min(n, 10000))   # warm up
        w._flush()
        ws[name] = w
    names = list(mods)
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            add = ws[name].add_scalar
            c0, t0 = time.thread_time(), time.perf_counter()
            for i in range(n):
                add("loss", 0.5, i)
            t1, c1 = time.perf_counter(), time.thread_time()
            times[name].append(((t1 - t0) / n * 1e6, (c1 - c0) / n * 1e6))
            ws[name]._flush()
    for w in ws.values():
        w._close()
    return times


ABI_CHILD = r"""
import importlib.machinery, importlib.util, sys, tempfile
so, n, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
loader = importlib.machinery.ExtensionFileLoader("tbwal._tbwal", so)
spec = importlib.util.spec_from_file_location("tbwal._tbwal", so, loader=loader)
mod = importlib.util.module_from_spec(spec)
loader.exec_module(mod)
w = mod.Writer()
w._open(tempfile.mkdtemp(dir=root), compact_interval_ms=0)
add = w.add_scalar
for i in range(n):
    add("loss", 0.5, i)
w._close()
"""


def abi_callgrind(sos, root, n1, n2):
    """{name: instructions per add_scalar} from two callgrind runs per build."""
    import re
    import subprocess
    out = {}
    for name, so in sos.items():
        if name == "control":
            continue
        ir = []
        for n in (n1, n2):
            f = os.path.join(root, "cg.%s.%d" % (name, n))
            subprocess.check_call(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + f,
                                   sys.executable, "-c", ABI_CHILD, so, str(n), root],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env=dict(os.environ, PYTHONHASHSEED="0"))
            with open(f) as fh:
                m = re.search(r"^(?:summary|totals): (\d+)", fh.read(), re.M)
            ir.append(int(m.group(1)))
        out[name] = (ir[1] - ir[0]) / (n2 - n1)
    return out


def abi_main(args):
    import shutil as _sh
    import statistics
    n, repeats, cg = 200000, 15, True
    rest = list(args)
    while rest:
        a = rest.pop(0)
        if a == "--repeats":
            repeats = int(rest.pop(0))
        elif a == "--no-callgrind":
            cg = False
        else:
            n = int(a)
    root = tempfile.mkdtemp(prefix="tbwbench-abi-", dir=os.environ.get("TBW_BENCH_DIR"))
    try:
        sos = abi_compile(os.path.join(root, "so"))
        mods = {name: abi_load(name, so) for name, so in sos.items()}
        load0 = os.getloadavg()
        t0 = time.time()
        times = abi_time(mods, root, n, repeats)
        secs = time.time() - t0
        load1 = os.getloadavg()
        irs = abi_callgrind(sos, root, 20000, 100000) if cg and _sh.which("valgrind") else None
    finally:
        _sh.rmtree(root, ignore_errors=True)
    wall = {k: [t[0] for t in v] for k, v in times.items()}
    cpu = {k: [t[1] for t in v] for k, v in times.items()}
    med = statistics.median
    print("tbwal stable-ABI bench: Python %s, %d calls per run, %d runs per build, interleaved (%.0f s)"
          % (sys.version.split()[0], n, repeats, secs))
    print("  load average before %.2f %.2f %.2f, after %.2f %.2f %.2f (%d CPUs)"
          % (load0 + load1 + (os.cpu_count() or 0,)))
    print("  us per add_scalar: wall clock (median, best) and this thread's CPU time (median);"
          " ratios to per-version")
    print("  %-12s %8s %8s %8s %8s %8s %8s %8s" % ("build", "wall med", "best", "cpu med", "wall",
                                                  "best", "cpu", "Ir/call"))
    ratios = {}
    for name, _, _ in ABI_BUILDS:
        r = (med(wall[name]) / med(wall["per-version"]), min(wall[name]) / min(wall["per-version"]),
             med(cpu[name]) / med(cpu["per-version"]))
        ratios[name] = r
        irc = "%8.0f" % irs[name] if irs and name in irs else "%8s" % "-"
        print("  %-12s %8.3f %8.3f %8.3f %7.3fx %7.3fx %7.3fx %s"
              % (name, med(wall[name]), min(wall[name]), med(cpu[name]), r[0], r[1], r[2], irc))
    if irs:
        for name in ABI_COMPARED:
            d = irs[name] - irs["per-version"]
            print("  %s: %+.0f instructions per call (%+.1f %%) against per-version"
                  % (name, d, 100.0 * d / irs["per-version"]))
    print("  wall us per run: " + "; ".join("%s %s" % (name, " ".join("%.2f" % t for t in wall[name]))
                                            for name, _, _ in ABI_BUILDS))

    c = ratios["control"]
    resolves = abs(c[0] - 1) < 0.025 and abs(c[2] - 1) < 0.025
    print("noise floor: the control (the per-version build again) at %.3fx wall, %.3fx CPU: %s"
          % (c[0], c[2], "timings resolve 5 %" if resolves else
             "timings here cannot resolve 5 % (the instruction counts can)"))
    for name in ABI_COMPARED:
        r = ratios[name]
        if irs:
            by_ir = "%+.1f %% instructions (%s)" % (
                100.0 * (irs[name] / irs["per-version"] - 1),
                "within" if irs[name] <= 1.05 * irs["per-version"] else "OVER")
        else:
            by_ir = "instructions not counted"
        print("5 %% rule, %s: %s; wall %.3fx, CPU %.3fx%s"
              % (name, by_ir, r[0], r[2],
                 (" (%s)" % ("within" if max(r[0], r[2]) <= 1.05 else "OVER")) if resolves else
                 " (noise)"))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "abi":
        abi_main(sys.argv[2:])
        return
    global crc32c, tbwal
    import crc32c
    import tbwal
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
