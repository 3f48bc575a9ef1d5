"""test_crash.py -- a child process logs in a loop and is SIGKILLed at a
random moment; after recovery every step its add_scalar returned for is in
the event files exactly once, and nothing else but possibly the one call in
flight at the kill.

Recovery runs the built tools/tbrecover, as a user would after a crash.
"""
import os
import random
import signal
import subprocess
import sys
import time
import unittest

import tbwal
from tbwtest import HERE, TempDirCase, child_env, f32, scalars

BUILDDIR = os.environ.get("TBW_BUILDDIR", "")
# $TBW_TBRECOVER: the pip-installed tool (tests/packaging/run.sh), else the build's.
TBRECOVER = os.environ.get("TBW_TBRECOVER") or (os.path.join(BUILDDIR, "tools", "tbrecover") if BUILDDIR else "")
ROUNDS = int(os.environ.get("TBW_PY_CRASH_ROUNDS", "24"))


def recover(logdir):
    """Finish the export a killed writer left, with tbrecover (exit 0 required)."""
    if not (TBRECOVER and os.access(TBRECOVER, os.X_OK)):
        raise AssertionError("tbrecover not built at %r (TBW_BUILDDIR)" % TBRECOVER)
    subprocess.run([TBRECOVER, logdir], check=True, stdout=subprocess.DEVNULL, timeout=120)
    return "tbrecover"


class TestCrash(TempDirCase):
    def run_child(self, logdir, tag, start, durability, rng):
        """Start a child, let it log for a random while, SIGKILL it; return the acked steps."""
        p = subprocess.Popen([sys.executable, os.path.join(HERE, "crash_child.py"), logdir, tag,
                              str(start), durability],
                             stdout=subprocess.PIPE, env=child_env())
        self.assertEqual(p.stdout.readline(), b"open\n")
        time.sleep(rng.uniform(0.0, 0.3))
        p.send_signal(signal.SIGKILL)
        rest = p.stdout.read()
        p.wait()
        p.stdout.close()
        lines = rest.split(b"\n")
        acked = [int(x) for x in lines[:-1]]  # the last piece is empty or torn: not acked
        if acked:
            self.assertEqual(acked, list(range(start, start + len(acked))))
        return acked

    def test_crash_sigkill_loses_nothing_acknowledged(self):
        rng = random.Random(int(os.environ.get("TBW_SEED", str(os.getpid()))))
        logdir = os.path.join(self.tmp, "run")
        acked_by_tag = {}
        how = set()
        for r in range(ROUNDS):
            durability = ["interval", "always", "never"][r % 3]
            tag = "loss/round%d" % r
            acked_by_tag[tag] = self.run_child(logdir, tag, r * 1000000, durability, rng)
            if r % 2 == 1:  # sometimes crash again before any recovery
                how.add(recover(logdir))
        how.add(recover(logdir))
        got = scalars(logdir)
        total = 0
        for tag, acked in acked_by_tag.items():
            steps = [s for t, s, _, _ in got if t == tag]
            # exactly once, in order; the one call in flight at the kill may have committed
            self.assertEqual(steps[:len(acked)], acked, tag)
            self.assertLessEqual(len(steps) - len(acked), 1, tag)
            if len(steps) > len(acked):
                self.assertEqual(steps[-1], acked[-1] + 1 if acked else int(tag[10:]) * 1000000)
            for t, s, v, _ in got:
                if t == tag:
                    self.assertEqual(v, f32(s * 0.5))
            total += len(acked)
        self.assertGreater(total, 0)
        print("\ncrash test: %d rounds, %d acknowledged scalars, all found once; recovered by %s"
              % (ROUNDS, total, "+".join(sorted(how))), file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
