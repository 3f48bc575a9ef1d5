"""tbserver.py -- the real TensorBoard, started and stopped by the tests.

TensorBoard(logdir, load_fast=True|False).start() runs
`tensorboard --logdir DIR --host 127.0.0.1 --port P --load_fast=... --reload_interval R`
from the test venv on a free loopback port, in its own process group (with
load_fast=true TensorBoard starts the Rust data server as a child; the group
holds both), waits until /data/runs answers, and stop() kills the whole group
(SIGTERM, then SIGKILL) and every descendant still alive. Used as a context
manager or through the `tensorboard_server` fixture (conftest.py), it is
stopped on success, failure and interrupt alike.

Queries go to TensorBoard's HTTP API: /data/runs, /data/plugin/scalars/tags,
/data/plugin/scalars/scalars?run=R&tag=T (and the other plugins' routes by
path). Everything is read with the stdlib (urllib).
"""
import atexit
import ctypes
import json
import os
import weakref
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


BARRIER_RUN = "zz-tbw-barrier"
PR_SET_PDEATHSIG = 1
_live = weakref.WeakSet()      # servers started and not stopped (atexit stops them)


_prctl = ctypes.CDLL(None, use_errno=True).prctl   # resolved here, not in the forked child


def _die_with_parent(parent):
    """preexec_fn: the kernel sends SIGKILL when the process that started us
    dies; if it already died between fork and here, go now."""
    if _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        os._exit(126)
    if os.getppid() != parent:
        os._exit(126)


@atexit.register
def _stop_all():
    for tb in list(_live):
        tb.stop()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid):
    """Every live descendant of pid (from /proc), deepest last."""
    children = {}
    for d in pathlib.Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


class TensorBoard:
    """One tensorboard server process on loopback."""

    def __init__(self, logdir, load_fast, reload_interval=1, extra=(), log_path=None):
        self.logdir = os.fspath(logdir)
        self.load_fast = bool(load_fast)
        self.reload_interval = reload_interval
        self.extra = list(extra)
        self.port = None
        self.proc = None
        self.log_path = log_path
        self._log = None
        self._barrier = None       # settle()'s writer, and its last step
        self._barrier_step = 0

    @property
    def name(self):
        return "rust data server" if self.load_fast else "python loader"

    def command(self):
        exe = pathlib.Path(sys.executable).with_name("tensorboard")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "tensorboard.main"]
        cmd += ["--logdir", self.logdir, "--host", "127.0.0.1", "--port", str(self.port),
                "--load_fast=%s" % ("true" if self.load_fast else "false")]
        if self.reload_interval is not None:
            cmd += ["--reload_interval", str(self.reload_interval)]
        return cmd + self.extra

    def start(self, timeout=90):
        last = None
        for _attempt in range(3):     # a free port can be taken between probe and bind
            self.port = free_port()
            if self.log_path is None:
                self.log_path = os.path.join(self.logdir, os.pardir,
                                             "tensorboard-%d.log" % self.port)
            self._log = open(self.log_path, "ab")
            env = dict(os.environ)
            env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
            parent = os.getpid()
            self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True, env=env,
                                         preexec_fn=lambda: _die_with_parent(parent))
            _live.add(self)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    self.get("/data/runs", timeout=2)
                    return self
                except (OSError, urllib.error.URLError) as e:
                    last = e
                    time.sleep(0.2)
            self.stop()
        raise RuntimeError("tensorboard (%s) did not answer on 127.0.0.1:%s: %s\n%s"
                           % (self.name, self.port, last, self.log_text()[-3000:]))

    def log_text(self):
        try:
            return pathlib.Path(self.log_path).read_text(errors="replace")
        except (OSError, TypeError):
            return ""

    def stop(self):
        """Kill the server's process group and any descendant that left it."""
        p = self.proc
        if p is None:
            return
        self.proc = None
        _live.discard(self)
        kids = _descendants(p.pid)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            for k in kids:
                try:
                    os.kill(k, sig)
                except ProcessLookupError:
                    pass
            try:
                p.wait(timeout=5)
                break
            except subprocess.TimeoutExpired:
                continue
        if p.poll() is None:
            p.kill()
            p.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(os.path.exists("/proc/%d" % k) and
                                                 _zombie_or_alive(k) for k in kids):
            time.sleep(0.05)
        if self._log:
            self._log.close()
            self._log = None
        if self._barrier is not None:
            self._barrier.close()
            self._barrier = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- HTTP API ----

    def get_bytes(self, path, timeout=20):
        url = "http://127.0.0.1:%d%s" % (self.port, path)
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read()

    def get(self, path, timeout=20):
        return json.loads(self.get_bytes(path, timeout).decode())

    def runs(self):
        return self.get("/data/runs")

    def scalar_tags(self):
        """{run: [tag, ...]} from /data/plugin/scalars/tags."""
        return {run: sorted(tags) for run, tags in self.get("/data/plugin/scalars/tags").items()}

    def scalars(self, run, tag):
        """[(step, value), ...] for one run and tag, as TensorBoard serves them."""
        q = urllib.parse.urlencode({"run": run, "tag": tag})
        try:
            pts = self.get("/data/plugin/scalars/scalars?" + q)
        except urllib.error.HTTPError as e:
            if e.code in (400, 404):
                return []
            raise
        return [(int(p[1]), float(p[2])) for p in pts]

    def all_scalars(self, run):
        """{tag: [(step, value), ...]} for every scalar tag of run."""
        tags = self.scalar_tags().get(run, [])
        return {t: self.scalars(run, t) for t in tags}

    def settle(self, timeout=60):
        """Return once the server has completed a whole reload cycle that
        began after this call (see the module comment)."""
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        if self._barrier is None:
            self._barrier_run = "%s-%d" % (BARRIER_RUN, self.port)   # its own: servers share logdirs
            self._barrier = EventFileWriter(os.path.join(self.logdir, self._barrier_run))
        for _ in range(2):
            self._barrier_step += 1
            step = self._barrier_step
            ev = event_pb2.Event(wall_time=time.time(), step=step, summary=summary_pb2.Summary(
                value=[summary_pb2.Summary.Value(tag="barrier", simple_value=float(step))]))
            self._barrier.add_event(ev)
            self._barrier.flush()
            got = self.wait_for(lambda: any(s == step for s, _ in self.scalars(self._barrier_run, "barrier")),
                                timeout=timeout, interval=0.1)
            if not got:
                raise AssertionError("tensorboard (%s) did not show barrier step %d within %ss"
                                     % (self.name, step, timeout))

    def wait_for(self, fn, timeout=30, interval=0.2):
        """Poll fn() until it returns a true value; return the last value (maybe false)."""
        deadline = time.monotonic() + timeout
        v = None
        while True:
            try:
                v = fn()
            except (OSError, urllib.error.URLError, ValueError):
                v = None
            if v or time.monotonic() > deadline:
                return v
            time.sleep(interval)


def _zombie_or_alive(pid):
    try:
        st = pathlib.Path("/proc/%d/stat" % pid).read_text()
    except OSError:
        return False
    return st.rsplit(")", 1)[1].split()[0] != "Z"
