"""smoke.py -- what every pip install of tbwal must give, checked with the
installed interpreter from outside the source tree:
  - tbwal imports from the installation (not the tree, not build/python),
    its extension is the stable-ABI one (_tbwal.abi3.so), and tbwal.__version__
    is the one version number (argv[1], from scripts/version.sh);
  - a SummaryWriter logs scalars that reach an event file;
  - the tools are on PATH next to the interpreter (tbwal, tbrecover,
    tbsync, tbcompact, tbstat) and run, as does python -m tbwal TOOL, and
    python -m tbwal COMMAND (tbwal's subcommands).

    VENV/bin/python tests/packaging/smoke.py VERSION
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import tbwal
from tbwal import _tbwal

TOOLS = ("tbwal", "tbrecover", "tbsync", "tbcompact", "tbstat")


def check(cond, what):
    if not cond:
        sys.exit("smoke: FAIL: " + what)
    print("smoke: ok: " + what, flush=True)


def main():
    want = sys.argv[1]
    prefix = os.path.realpath(sys.prefix)
    mod = os.path.realpath(_tbwal.__file__)
    check(mod.startswith(prefix + os.sep), "tbwal._tbwal is installed under %s (%s)" % (prefix, mod))
    check(mod.endswith(".abi3.so"), "the extension uses the stable ABI (%s)" % os.path.basename(mod))
    check(tbwal.__version__ == want == _tbwal.LIBRARY_VERSION,
          "tbwal.__version__ %s = library %s = %s" % (tbwal.__version__, _tbwal.LIBRARY_VERSION, want))
    d = tempfile.mkdtemp(prefix="tbw-smoke-")
    try:
        w = tbwal.SummaryWriter(os.path.join(d, "run"))
        for i in range(10):
            w.add_scalar("loss", 1.0 / (i + 1), i)
        w.close()
        ev = glob.glob(os.path.join(d, "run", "events.out.tfevents.*"))
        check(len(ev) == 1 and os.path.getsize(ev[0]) > 100, "10 scalars reached an event file")
        bindir = os.path.dirname(sys.executable)
        for t in TOOLS:
            exe = os.path.join(bindir, t)
            check(os.access(exe, os.X_OK), "%s is installed next to python" % t)
            r = subprocess.run([exe, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            check(r.returncode == 0 and t in r.stdout, "%s --help runs" % t)
        r = subprocess.run([os.path.join(bindir, "tbstat"), os.path.join(d, "run")], stdout=subprocess.PIPE,
                           text=True)
        check(r.returncode == 0 and "last seq 10" in r.stdout, "tbstat reads the run (10 commits)")
        r = subprocess.run([sys.executable, "-m", "tbwal", "tbrecover", "--dry-run", os.path.join(d, "run")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        check(r.returncode == 0 and "loss" in r.stdout, "python -m tbwal tbrecover --dry-run runs")
        r = subprocess.run([sys.executable, "-m", "tbwal", "tbstat", os.path.join(d, "nothing")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        check(r.returncode == 2, "python -m tbwal tbstat keeps the tool's exit status (2: no journal)")
        r = subprocess.run([sys.executable, "-m", "tbwal", "stat", os.path.join(d, "nothing")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        check(r.returncode == 4, "python -m tbwal stat is tbwal stat (4: no journal)")
        r = subprocess.run([os.path.join(bindir, "tbwal"), "--version"], stdout=subprocess.PIPE, text=True)
        check(r.returncode == 0 and r.stdout.strip() == "tbwal " + want, "tbwal --version is the one version")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
