"""crash_demo.py -- the crash-and-recover demo that ./scripts/demo.sh runs.

Two copies of examples/demo_train.py log the same simulated training run side
by side, in lockstep (the same scalars, acknowledged one batch at a time):

  - one through tbwal.SummaryWriter, its journal synced to OUT/drive (the
    stand-in for a mounted Google Drive);
  - one through the writer people use: torch.utils.tensorboard's
    SummaryWriter when torch is installed, else tensorboardX's (a queue of 10
    events, a background thread, a flush every 120 s); --baseline buffered
    uses a model of them instead (bench/bench_python.py).

After N acknowledged batches (and at least one sync pass) both are SIGKILLed
at the same moment. Then, measured, not estimated:

  1. process killed, VM alive: what each run's logdir holds (for tbwal, after
     `tbrecover LOGDIR` finishes the export from the local journal);
  2. VM lost: the VM's disk (OUT/vm) is deleted; tbwal gets everything back
     that reached the sync folder with `tbrecover --from`; the buffered
     writer's files were on the VM's disk and are gone.

    PYTHONPATH=<tbwal package> VENV/bin/python examples/crash_demo.py \
        --tools BUILD_DIR [--out DIR] [--steps N] [--step-time S] [--sync-interval S]
        [--baseline real|buffered] [--no-serve]

At the end both runs (tbwal's, recovered from the sync folder; the baseline's
as the kill left it) are served by a real TensorBoard (loopback, a free port,
stopped before the demo exits), and what its HTTP API returns for each is
printed.

Exit status 0 when every check holds (tbwal recovered every acknowledged
scalar after the process kill, exactly once, and a prefix of them, without
duplicates, after the VM loss); 1 otherwise.
"""
import argparse
import glob
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

try:
    import crc32c
except ImportError:   # the venv has no crc32c package: a table, fast enough here
    class crc32c:  # noqa: N801
        _T = []
        for _n in range(256):
            _c = _n
            for _k in range(8):
                _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
            _T.append(_c)

        @staticmethod
        def crc32c(data, T=_T):
            c = 0xFFFFFFFF
            for b in data:
                c = T[(c ^ b) & 0xFF] ^ (c >> 8)
            return c ^ 0xFFFFFFFF

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                                "tests", "py", "tensorboard"))

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- reading event files back (independently of the library) -----------------


def _masked(data):
    c = crc32c.crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(buf, i):
    shift = n = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def _fields(buf):
    """Yield (field number, wire type, value) of a protobuf message."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 2:
            n, i = _varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        yield num, wt, v


def read_scalars(logdir):
    """Every scalar in logdir's event files, in file-name order, as a list of
    (tag, step, wall_time), and the number of files that end in a torn record.
    Each record's two CRCs are checked (a bad one stops that file)."""
    out, torn = [], 0
    for path in sorted(glob.glob(os.path.join(logdir, "*tfevents*"))):
        with open(path, "rb") as f:
            data = f.read()
        i = 0
        while i < len(data):
            if len(data) - i < 12:
                torn += 1
                break
            (n,) = struct.unpack_from("<Q", data, i)
            if struct.unpack_from("<I", data, i + 8)[0] != _masked(data[i:i + 8]):
                raise SystemExit("demo: bad length CRC in %s at offset %d" % (path, i))
            if len(data) - i < 16 + n:
                torn += 1
                break
            rec = data[i + 12:i + 12 + n]
            if struct.unpack_from("<I", data, i + 12 + n)[0] != _masked(rec):
                raise SystemExit("demo: bad data CRC in %s at offset %d" % (path, i))
            i += 16 + n
            wall, step, summary = 0.0, 0, None
            for num, _, v in _fields(rec):
                if num == 1:
                    (wall,) = struct.unpack("<d", v)
                elif num == 2:
                    step = v - (1 << 64) if v >= 1 << 63 else v
                elif num == 5:
                    summary = v
            if summary is None:
                continue  # file_version, SessionLog
            for num, _, val in _fields(summary):
                if num == 1:
                    tag = next((bytes(t).decode() for k, _, t in _fields(val) if k == 1), None)
                    out.append((tag, step, wall))
    return out, torn


# ---- running the two writers in lockstep --------------------------------------


def start(args, writer, logdir, sync_dir=None):
    cmd = [sys.executable, os.path.join(HERE, "demo_train.py"), logdir,
           "--writer", writer, "--lockstep", "--sync-interval", str(args.sync_interval)]
    if sync_dir:
        cmd += ["--sync-dir", sync_dir]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    if p.stdout.readline().strip() != "ready":
        raise SystemExit("demo: the %s run did not start" % writer)
    return p


def segments(drive):
    return glob.glob(os.path.join(drive, "*", "seg-*"))


def tool(args, name, *argv):
    exe = next(p for p in (os.path.join(args.tools, "tools", name), os.path.join(args.tools, name))
               if os.path.exists(p))
    r = subprocess.run([exe] + list(argv), capture_output=True, text=True)
    return r


def fmt_secs(s):
    return "%.1f s" % s


def serve(served, expect, baseline, bname):
    """Serve both runs with a real TensorBoard (Rust data server), print what
    its HTTP API returns for each; True if tbwal's run shows what the event
    files hold."""
    from tbserver import TensorBoard
    tb = TensorBoard(served, True, reload_interval=1, log_path=served + ".tensorboard.log")
    print("\n$ tensorboard --logdir %s --host 127.0.0.1 --port P --load_fast=true   # started by the demo"
          % os.path.relpath(served))
    try:
        tb.start()
        tags = tb.wait_for(lambda: (lambda t: t if "tbwal" in t else None)(tb.scalar_tags()), timeout=60) or {}
        time.sleep(2)      # one more reload: the run's files are all read
        tags = tb.scalar_tags()
        print("GET /data/runs -> %s" % json.dumps(tb.runs()))
        good = True
        for run, label in (("tbwal", "tbwal (recovered from the sync folder)"), (baseline, bname)):
            print("run %-9s %s:" % (run, label))
            if not tags.get(run):
                print("    no scalars (TensorBoard shows the run as empty)")
            for tag in tags.get(run, []):
                pts = tb.scalars(run, tag)
                steps = [s for s, _ in pts]
                print("    %-20s %4d points, steps %s" % (tag, len(pts),
                                                         "%d..%d" % (min(steps), max(steps)) if steps else "-"))
                if run == "tbwal":
                    good = good and len(set(steps)) == len(steps) and \
                        set(steps) <= {s for _, s in expect}
        print("(GET /data/plugin/scalars/scalars?run=RUN&tag=TAG; TensorBoard stopped)")
        return good
    except Exception as e:  # the demo's checks above stand; say why this part failed
        print("demo: TensorBoard could not serve the runs: %s" % e)
        return False
    finally:
        tb.stop()


def main():
    ap = argparse.ArgumentParser(description="tbwal crash-and-recover demo")
    ap.add_argument("--tools", required=True, help="build directory holding tbrecover")
    ap.add_argument("--out", default=os.path.join(os.getcwd(), "demo-out"))
    ap.add_argument("--steps", type=int, default=300, help="kill after this many acknowledged batches")
    ap.add_argument("--step-time", type=float, default=0.025, help="simulated compute per batch, s")
    ap.add_argument("--sync-interval", type=float, default=2.0, help="tbwal sync_interval, s")
    ap.add_argument("--baseline", choices=("real", "buffered"), default="real",
                    help="the comparison writer: torch's/tensorboardX's (real) or a model of them")
    ap.add_argument("--no-serve", action="store_true", help="do not serve the runs with TensorBoard")
    args = ap.parse_args()
    if args.baseline == "real":
        sys.path.insert(0, HERE)
        from demo_train import real_writer_name
        brun = real_writer_name()
        bname = brun + "'s SummaryWriter"
    else:
        brun, bname = "buffered", "torch-like buffered writer"

    out = os.path.abspath(args.out)
    shutil.rmtree(out, ignore_errors=True)
    vm = os.path.join(out, "vm")             # the VM's local disk
    drive = os.path.join(out, "drive")       # the mounted Google Drive
    logdir = os.path.join(vm, "runs", "demo")
    blogdir = os.path.join(vm, "runs", "demo-" + args.baseline)
    os.makedirs(drive)
    ntags = 4

    print("demo: a simulated training run, %d tags per batch, one batch every %g s," % (ntags, args.step_time))
    print("      logged twice in lockstep: through tbwal.SummaryWriter (sync_dir=%s, sync_interval=%g s)"
          % (os.path.relpath(drive), args.sync_interval))
    print("      and through %s (queue of 10, background thread, flush every 120 s)." % bname)
    a = start(args, "tbwal", logdir, drive)
    try:
        b = start(args, args.baseline, blogdir)
    except BaseException:
        a.kill()
        raise
    t0 = time.time()
    step = 0
    try:
        # Kill after N acknowledged batches; if the first sync pass has not
        # landed by then (a very slow machine), keep going until it has, so
        # there is something on "Drive" to recover.
        while step < args.steps or (not segments(drive) and step < 20 * args.steps):
            time.sleep(args.step_time)  # the forward and backward pass
            for p in (a, b):
                p.stdin.write("go\n")
            for p in (a, b):
                p.stdin.flush()
            for p in (a, b):
                ack = p.stdout.readline().strip()
                if ack != str(step):
                    raise SystemExit("demo: expected ack %d, got %r" % (step, ack))
            step += 1
            if sys.stdout.isatty() and step % 20 == 0:
                print("\r      batch %d, %d scalars acknowledged by each writer" % (step, step * ntags),
                      end="", flush=True)
    finally:
        for p in (a, b):  # the same moment for both: each is waiting for its next batch
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
    kill_time = time.time()
    for p in (a, b):
        p.wait()
    if sys.stdout.isatty():
        print()
    acked = step * ntags
    print("demo: SIGKILLed both runs after %d batches (%s): %d scalars acknowledged by each."
          % (step, fmt_secs(kill_time - t0), acked))
    ok = True

    # What TensorBoard could show at the moment of the kill.
    at_kill, _ = read_scalars(logdir)
    b_kept, b_torn = read_scalars(blogdir)
    served = os.path.join(out, "served")   # what TensorBoard serves at the end
    shutil.copytree(blogdir, os.path.join(served, brun))

    # 1. Process killed, VM alive: tbwal finishes the export from its journal.
    drive_before = sorted(os.listdir(os.path.join(drive, d)) for d in os.listdir(drive))
    r = tool(args, "tbrecover", logdir)
    print("\n$ tbrecover %s" % os.path.relpath(logdir))
    print(r.stdout.rstrip())
    kept1, torn1 = read_scalars(logdir)
    keys1 = [(t, s) for t, s, _ in kept1]
    expect = [(t, s) for s in range(step) for t in
              ("train/loss", "train/accuracy", "train/lr", "train/grad_norm")]
    if r.returncode != 0 or sorted(keys1) != sorted(expect) or torn1:
        print("demo: CHECK FAILED: after the process kill tbwal's event files do not hold every "
              "acknowledged scalar exactly once (exit %d)" % r.returncode)
        ok = False
    if sorted(os.listdir(os.path.join(drive, d)) for d in os.listdir(drive)) != drive_before:
        print("demo: CHECK FAILED: tbrecover without --from changed the sync folder")
        ok = False

    # 2. VM lost: delete everything local, recover from the sync folder alone.
    shutil.rmtree(vm)
    runs = glob.glob(os.path.join(drive, "demo-*"))
    if len(runs) != 1:
        raise SystemExit("demo: expected one run folder in %s, found %r" % (drive, runs))
    r = tool(args, "tbrecover", "--from", runs[0], logdir)
    print("\n$ rm -rf %s        # the VM is gone: journal and event files with it" % os.path.relpath(vm))
    print("$ tbrecover --from %s %s" % (os.path.relpath(runs[0]), os.path.relpath(logdir)))
    print(r.stdout.rstrip())
    kept2, torn2 = read_scalars(logdir)
    keys2 = [(t, s) for t, s, _ in kept2]
    n2 = len(keys2)
    if r.returncode != 0 or len(set(keys2)) != n2 or sorted(keys2) != sorted(expect[:n2]) or torn2:
        print("demo: CHECK FAILED: after the VM loss tbwal's event files are not a duplicate-free "
              "prefix of the acknowledged scalars (exit %d)" % r.returncode)
        ok = False
    lost2 = acked - n2
    newest2 = max((w for _, _, w in kept2), default=t0)
    last_step2 = max((s for _, s, _ in kept2), default=-1)
    newest_b = max((w for _, _, w in b_kept), default=t0)

    # The comparison.
    def lost(n, newest):
        return "%d kept, %d lost%s" % (n, acked - n,
                                       " (the last %s)" % fmt_secs(kill_time - newest) if acked > n else "")
    w1 = 46
    rows = [("scalars acknowledged", str(acked), str(acked)),
            ("in event files at kill", "%d (exported every compact_interval)" % len(at_kill),
             "%d%s" % (len(b_kept), " + a torn record" if b_torn else "")),
            ("process killed, VM alive", lost(len(kept1), max((w for _, _, w in kept1), default=t0)),
             lost(len(b_kept), newest_b)),
            ("VM lost", lost(n2, newest2), "0 kept, %d lost (everything)" % acked)]
    print("\n" + "=" * 100)
    print("%-26s%-*s%s" % ("", w1, "tbwal (journal + sync folder)", bname))
    for name, x, y in rows:
        print("%-26s%-*s%s" % (name, w1, x, y))
    print("=" * 100)
    print("Fair: the same %d scalars, both killed at the same moment, both writing to the VM's local disk.\n"
          "Process killed: tbwal committed every call to its journal; the buffered writer loses its queue and\n"
          "file buffer. VM lost: only Drive survives: tbwal's segments up to its last sync (step %d; about\n"
          "sync_interval=%g s is lost), nothing of the buffered writer's local files."
          % (acked, last_step2, args.sync_interval))
    print("\nThe recovered event files are in %s" % os.path.relpath(logdir))
    print("Open them in TensorBoard:  tensorboard --logdir %s" % os.path.relpath(os.path.dirname(logdir)))
    print("(in Colab or Jupyter:  %%load_ext tensorboard  then  %%tensorboard --logdir %s)"
          % os.path.relpath(os.path.dirname(logdir)))
    if not args.no_serve:
        shutil.copytree(logdir, os.path.join(served, "tbwal"),
                        ignore=shutil.ignore_patterns(".tbwal*"))
        ok = serve(served, expect, brun, bname) and ok
    summary = {"acked": acked, "at_kill": len(at_kill), "process_kill_kept": len(kept1),
               "vm_lost_kept": n2, "vm_lost_window_s": kill_time - newest2,
               "buffered_kept": len(b_kept), "buffered_window_s": kill_time - newest_b, "ok": ok}
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
