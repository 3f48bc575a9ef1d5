"""Fixtures of the real-TensorBoard suite: servers that are always stopped,
writer processes that are always killed, and the expected points."""
import os
import pathlib
import signal
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from tbserver import TensorBoard  # noqa: E402
from writer_child import value  # noqa: E402,F401

LOADERS = {"rust": True, "python": False}


@pytest.fixture(params=sorted(LOADERS))
def load_fast(request):
    """Each scenario runs once per loader: 'rust' (--load_fast=true, the
    tensorboard-data-server binary) and 'python' (--load_fast=false)."""
    return LOADERS[request.param]


@pytest.fixture
def tensorboard():
    """tensorboard(logdir, load_fast, **kw) -> a started TensorBoard; every
    server made here is stopped (its process group killed) at teardown,
    also when the test failed."""
    servers = []

    def start(logdir, load_fast, **kw):
        kw.setdefault("log_path", str(pathlib.Path(logdir).parent / ("tb-%d.log" % len(servers))))
        tb = TensorBoard(logdir, load_fast, **kw)
        servers.append(tb)
        return tb.start()

    yield start
    for tb in servers:
        tb.stop()


class Child:
    """A writer_child.py process; its stdout is read by a thread into a queue."""

    def __init__(self, proc):
        import queue
        import threading
        self.proc = proc
        self.acked = -1
        self.lines = []
        self._q = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self._q.put(line.strip())
        self._q.put(None)

    def wait_line(self, word, timeout=60):
        """Read stdout until a line starting with word; track 'acked N'."""
        import queue
        import time
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._q.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if line.startswith("acked "):
                self.acked = int(line.split()[1])
            if line.startswith(word):
                return line
        raise AssertionError("writer child: no %r line (rc=%s, last lines %s, stderr %s)"
                             % (word, self.proc.poll(), self.lines[-5:],
                                self.proc.stderr.read() if self.proc.poll() is not None else ""))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def wait(self, timeout=120):
        self.wait_line("closed", timeout)
        assert self.proc.wait(timeout) == 0


@pytest.fixture
def writer():
    """writer(logdir, *args) -> Child running writer_child.py; killed at teardown."""
    children = []

    def start(logdir, *args):
        p = subprocess.Popen([sys.executable, str(HERE / "writer_child.py"), os.fspath(logdir)]
                             + [str(a) for a in args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        c = Child(p)
        children.append(c)
        return c

    yield start
    for c in children:
        c.kill()


def expected(tags, steps, attempt=0):
    """{tag: [(step, value), ...]} for tags logged at steps by one attempt."""
    return {t: [(s, value(t, s, attempt)) for s in steps] for t in tags}
