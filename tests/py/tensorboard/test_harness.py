"""test_harness.py -- the suite never leaves a TensorBoard running, even when
the process that started it dies without running any Python code (SIGKILL):
tbserver.py starts every server with PR_SET_PDEATHSIG, and TensorBoard's
data server exits when TensorBoard's pipe to its stdin closes."""
import os
import signal
import subprocess
import sys
import time

from conftest import HERE
from tbserver import _descendants, _zombie_or_alive

STARTER = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from tbserver import TensorBoard
tb = TensorBoard(sys.argv[2], sys.argv[3] == "1").start()
print(tb.proc.pid, flush=True)
time.sleep(600)
"""


def test_server_dies_with_the_process_that_started_it(tmp_path, load_fast):
    logdir = tmp_path / "logs"
    logdir.mkdir()
    p = subprocess.Popen([sys.executable, "-c", STARTER, str(HERE), str(logdir), "1" if load_fast else "0"],
                         stdout=subprocess.PIPE, text=True)
    pids = []
    try:
        tb_pid = int(p.stdout.readline())
        pids = [tb_pid] + _descendants(tb_pid)
        if load_fast:
            assert len(pids) >= 2, "no data server under tensorboard %d" % tb_pid
        p.send_signal(signal.SIGKILL)          # no finally, no atexit in the starter
        p.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_zombie_or_alive(k) for k in pids):
            time.sleep(0.1)
        alive = [k for k in pids if _zombie_or_alive(k)]
        assert not alive, "still running after their starter died: %s" % alive
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for k in pids:                         # never leave one behind, even on failure
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass
