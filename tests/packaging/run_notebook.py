"""run_notebook.py -- execute examples/colab_tbwal.ipynb under a real Jupyter
kernel (nbclient + ipykernel), outside Colab, as scripts/test.sh's last stage.

The notebook's parameters cell (tagged "parameters") is rewritten so that the
tree is this one and a scratch folder stands in for /content: RUNS is its
runs/, DRIVE its drive/MyDrive (what drive.mount would give). Then every code
cell runs in one kernel, in order, except what needs Colab:
  - a line ending in `# colab-only` (google.colab's drive.mount) is dropped;
  - a cell whose first line is a `# colab-only` comment is skipped whole: the
    TensorBoard cell (%load_ext tensorboard, %tensorboard), whose magic opens
    TensorBoard inside Colab's output frame.
Every skip is printed. A line magic carrying a comment (`%load_ext x  # c`:
IPython passes the comment to the magic) fails the test, skipped or not.
Before the recovery cell the local run is deleted, as a lost VM would; the
test then reads the rebuilt event files: all 300 steps of each tag must be
back, from the Drive stand-in alone.

The kernel is the interpreter running this script (its own kernelspec in the
scratch folder), so tbwal is the installed one: scripts/test.sh runs this with
the venv the wheel was installed into.

    VENV/bin/python tests/packaging/run_notebook.py [NOTEBOOK]
"""
import glob
import json
import os
import shutil
import sys
import tempfile

import nbformat
from nbclient import NotebookClient

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARK = "# colab-only"


def say(msg):
    print("notebook: " + msg, flush=True)


def prepare(nb, scratch):
    """Rewrite the parameters cell, drop or skip what needs Colab; return the
    indexes of the cells to run."""
    runs = os.path.join(scratch, "runs")
    drive = os.path.join(scratch, "drive", "MyDrive")
    os.makedirs(drive)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(params) != 1:
        raise SystemExit("notebook: expected one cell tagged 'parameters', found %d" % len(params))
    params[0].source = "TBWAL_SRC = %r\nRUNS = %r\nDRIVE = %r\n" % (TOP, runs, drive)
    bad = []
    torun = []
    for i, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        lines = c.source.splitlines()
        for n, line in enumerate(lines, 1):
            s = line.strip()
            if s.startswith("%") and "#" in s:
                bad.append("cell %d line %d: a line magic with a comment (IPython passes it to the "
                           "magic): %s" % (i, n, s))
        if lines and lines[0].strip().startswith(MARK):
            say("skip cell %d (colab-only: %s)" % (i, lines[0].strip()[len(MARK):].strip(" :")))
            c.source = "pass  # colab-only cell skipped by run_notebook.py"
            continue
        kept = []
        for n, line in enumerate(lines, 1):
            if line.rstrip().endswith(MARK):
                say("skip cell %d line %d (colab-only): %s" % (i, n, line.strip()[:-len(MARK)].strip()))
            else:
                kept.append(line)
        c.source = "\n".join(kept)
        torun.append(i)
    if bad:
        raise SystemExit("notebook: FAIL:\n  " + "\n  ".join(bad))
    return runs, drive, torun


def kernelspec(scratch):
    """A kernelspec for this interpreter, found first through JUPYTER_PATH."""
    d = os.path.join(scratch, "jupyter", "kernels", "tbwal-test")
    os.makedirs(d)
    with open(os.path.join(d, "kernel.json"), "w") as f:
        json.dump({"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                   "display_name": "tbwal test", "language": "python"}, f)
    os.environ["JUPYTER_PATH"] = os.path.join(scratch, "jupyter")
    return "tbwal-test"


def output_text(cell):
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append(o.get("text", ""))
        elif o.get("output_type") == "error":
            out.append("\n".join(o.get("traceback", [])))
    return "".join(out)


def read_steps(logdir):
    """{tag: sorted steps} from the event files in logdir (TensorBoard's reader)."""
    from tensorboard.backend.event_processing import event_accumulator
    acc = event_accumulator.EventAccumulator(logdir, size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    res = {}
    for tag in acc.Tags().get("scalars", []):
        res[tag] = sorted(e.step for e in acc.Scalars(tag))
    for tag in acc.Tags().get("tensors", []):
        res[tag] = sorted(e.step for e in acc.Tensors(tag))
    return res


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(TOP, "examples", "colab_tbwal.ipynb")
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    scratch = tempfile.mkdtemp(prefix="tbw-nb-")
    try:
        runs, drive, torun = prepare(nb, scratch)
        os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
        client = NotebookClient(nb, kernel_name=kernelspec(scratch), timeout=900,
                                resources={"metadata": {"path": scratch}})
        with client.setup_kernel():
            for i in torun:
                cell = nb.cells[i]
                if "tbrecover" in cell.source:
                    shutil.rmtree(os.path.join(runs, "exp1"))
                    say("deleted %s/exp1 before cell %d (the lost VM's disk)" % (runs, i))
                say("run cell %d: %s" % (i, cell.source.splitlines()[0] if cell.source else ""))
                client.execute_cell(cell, i)
                for line in output_text(cell).rstrip().splitlines()[-6:]:
                    print("    " + line, flush=True)
        synced = glob.glob(os.path.join(drive, "tbwal-sync", "exp1-*"))
        if len(synced) != 1:
            raise SystemExit("notebook: FAIL: expected one exp1-* run in the Drive folder, found %r" % synced)
        steps = read_steps(os.path.join(runs, "exp1"))
        want = list(range(300))
        for tag in ("train/loss", "train/accuracy", "train/lr"):
            if steps.get(tag) != want:
                raise SystemExit("notebook: FAIL: %s after recovery: %s steps (want 0..299 once each)"
                                 % (tag, len(steps.get(tag, []))))
        say("ok: every cell ran; the run rebuilt from the Drive folder holds steps 0..299 of 3 tags")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
