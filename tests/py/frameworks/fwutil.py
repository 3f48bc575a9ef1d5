"""fwutil.py -- the harness the framework tests share.

A test starts a child process that trains a tiny model with a framework and
prints one line "ack RUN TAG STEP" after each logging call for TAG at STEP
into the run RUN (a directory relative to the test's logdir) has returned
(so the line means "logged"). While it trains, the test waits for an
acknowledged step to show in TensorBoard's own loader (EventAccumulator) and
measures how long that took; then it SIGKILLs the child, recovers every run
with the built tbrecover (or by reopening the run), and checks that every acknowledged (tag, step) is in
the event files exactly once (read with TensorBoard's EventFileLoader), with
nothing but the calls in flight at the kill beyond them.
"""
import collections
import os
import pathlib
import selectors
import signal
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
SRCDIR = pathlib.Path(os.environ.get("TBW_SRCDIR", HERE.parents[2]))
BUILDDIR = pathlib.Path(os.environ.get("TBW_BUILDDIR", SRCDIR / "build"))
TBRECOVER = BUILDDIR / "tools" / "tbrecover"
FRESH_LIMIT = float(os.environ.get("TBW_FRESH_LIMIT", "3.0"))  # seconds; "about a second" on a loaded 2-core box


def child_env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(BUILDDIR / "python") + os.pathsep + str(HERE) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                "TF_CPP_MIN_LOG_LEVEL": "2", "TOKENIZERS_PARALLELISM": "false",
                "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "WANDB_DISABLED": "true",
                "PYTHONUNBUFFERED": "1", "KERAS_BACKEND": "tensorflow"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


def warm_loader():
    """Load TensorBoard's loader and what it imports (TensorFlow, when installed: tens of
    seconds on a loaded machine) before anything is timed."""
    from tensorboard.backend.event_processing import event_accumulator  # noqa: F401
    from tensorboard.compat import tf
    tf.io.gfile.exists("/")


class Child:
    """A child script under children/, its stdout parsed into acks as they come."""

    def __init__(self, script, *args, **env):
        warm_loader()
        self.p = subprocess.Popen([sys.executable, str(HERE / "children" / script)] + [str(a) for a in args],
                                  stdout=subprocess.PIPE, env=child_env(**env), cwd=str(HERE),
                                  start_new_session=True)
        self.acks = []              # (run, tag, step, time seen), in order
        self.lines = []
        self._buf = b""
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.p.stdout, selectors.EVENT_READ)
        os.set_blocking(self.p.stdout.fileno(), False)

    def _read(self, timeout):
        if not self._sel.select(timeout):
            return False
        data = self.p.stdout.read()
        if not data:
            return None
        self._buf += data
        *done, self._buf = self._buf.split(b"\n")
        now = time.monotonic()
        for line in done:
            s = line.decode()
            self.lines.append(s)
            parts = s.split()
            if len(parts) == 4 and parts[0] == "ack":
                self.acks.append((parts[1], parts[2], int(parts[3]), now))
        return True

    def wait_for(self, pred, timeout, what):
        """Read until pred(self) holds; fail if the child exits or time runs out."""
        end = time.monotonic() + timeout
        while not pred(self):
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out after %ds waiting for %s; child said: %s"
                                     % (timeout, what, self.lines[-20:]))
            if self._read(min(left, 0.2)) is None:
                self.p.wait()
                raise AssertionError("child exited (%s) before %s; it said: %s"
                                     % (self.p.returncode, what, self.lines[-20:]))

    def kill(self):
        """SIGKILL the child (and its process group: DDP ranks); collect acks up to the kill."""
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.p.wait()
        while self._read(0) is True:
            pass
        # the last piece of output, if torn (no newline), is not an ack
        self.p.stdout.close()

    def acked(self):
        """run -> tag -> acknowledged steps, in order."""
        out = collections.defaultdict(lambda: collections.defaultdict(list))
        for run, tag, step, _ in self.acks:
            out[run][tag].append(step)
        return out

    def count(self, run, tag):
        return sum(1 for a in self.acks if a[0] == run and a[1] == tag)

    def last(self, run, tag):
        """(step, time) of the newest ack of (run, tag)."""
        for a in reversed(self.acks):
            if a[0] == run and a[1] == tag:
                return a[2], a[3]
        raise KeyError((run, tag))


def stop(child):
    if child.p.poll() is None:
        child.kill()


def scalars_seen(run_dir):
    """{tag: [steps]} in run_dir, by TensorBoard's EventAccumulator (what its UI would plot)."""
    from tensorboard.backend.event_processing import event_accumulator as ea
    acc = ea.EventAccumulator(str(run_dir), size_guidance={ea.SCALARS: 0, ea.TENSORS: 0},
                              purge_orphaned_data=False)
    acc.Reload()
    return {t: [e.step for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def wait_fresh(run_dir, tag, step, since, limit=FRESH_LIMIT):
    """Poll TensorBoard's loader until (tag, step) is there; return seconds since `since`."""
    while True:
        try:
            if step in scalars_seen(run_dir).get(tag, ()):
                return time.monotonic() - since
        except (FileNotFoundError, KeyError):
            pass
        if time.monotonic() - since > limit:
            raise AssertionError("%s step %d of %s not visible to TensorBoard's loader %.1f s after it "
                                 "was logged" % (tag, step, run_dir, limit))
        time.sleep(0.05)


def runs_under(root):
    """Every run directory (one holding a .tbwal journal) under root."""
    return sorted(p.parent for p in pathlib.Path(root).rglob(".tbwal") if p.is_dir())


def reopen(run_dir):
    """The other recovery path: open the run with a writer again and close it; the open
    finishes the export the killed writer left (DESIGN.md 5)."""
    import tbwal
    tbwal.SummaryWriter(str(run_dir)).close()


def recover(run_dir, *sources):
    """tbrecover RUN_DIR [--from SRC ...]; exit 0 required."""
    if not os.access(TBRECOVER, os.X_OK):
        raise AssertionError("tbrecover not built at %s (scripts/build.sh)" % TBRECOVER)
    cmd = [str(TBRECOVER)]
    for s in sources:
        cmd += ["--from", str(s)]
    cmd.append(str(run_dir))
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    assert r.returncode == 0, "tbrecover %s: exit %d\n%s" % (run_dir, r.returncode, r.stdout.decode())
    return r.stdout.decode()


def event_records(run_dir):
    """Every scalar event in run_dir's event files, in file-name order, by TensorBoard's
    EventFileLoader: [(tag, step, value)]. Duplicates are kept (that is what is checked)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util
    out = []
    for f in sorted(os.listdir(run_dir)):
        if "tfevents" not in f:
            continue
        for ev in EventFileLoader(os.path.join(run_dir, f)).Load():
            for v in ev.summary.value:
                if v.HasField("simple_value"):
                    out.append((v.tag, ev.step, v.simple_value))
                elif v.metadata.plugin_data.plugin_name == "scalars":
                    out.append((v.tag, ev.step, float(tensor_util.make_ndarray(v.tensor))))
    return out


def check_exactly_once(run_dir, acked, in_flight=1):
    """Every acked (tag, step) of run_dir is there exactly once; per tag the steps are the
    acked ones in order plus at most `in_flight` logged at the kill. Returns the count."""
    got = collections.defaultdict(list)
    for tag, step, _ in event_records(run_dir):
        got[tag].append(step)
    total = 0
    for tag, steps in acked.items():
        have = got.get(tag, [])
        assert have[:len(steps)] == steps, "%s %s: acked %s..%s, event files have %s" % (
            run_dir, tag, steps[:3], steps[-3:], have[:len(steps) + 2])
        assert len(have) - len(steps) <= in_flight, "%s %s: %d steps beyond the acked %d: %s" % (
            run_dir, tag, len(have) - len(steps), len(steps), have[len(steps):][:5])
        total += len(steps)
    return total


def plugin_tags(run_dir):
    """(tags of summaries with a plugin, has a graph_def) in run_dir's event files."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    tags, graph = set(), False
    for f in sorted(os.listdir(run_dir)):
        if "tfevents" in f:
            for ev in EventFileLoader(os.path.join(run_dir, f)).Load():
                graph = graph or ev.HasField("graph_def")
                for v in ev.summary.value:
                    if v.metadata.plugin_data.plugin_name:
                        tags.add((v.metadata.plugin_data.plugin_name, v.tag))
    return tags, graph
