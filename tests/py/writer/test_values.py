"""test_values.py -- what SummaryWriter accepts and how it fails.

- numpy arrays, Python lists and numbers work with torch absent (a child
  process where `import torch` fails), and give what torch's writer gives
  for the same values as tensors;
- global_step and walltime are converted as torch converts them;
- a missing optional package fails the call with tbwal.MissingDependency
  naming the pip package, and logs nothing;
- errors from the library (a record over the size cap, a bad tag) raise
  tbwal exceptions with the library's message, and log nothing.
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch.utils.tensorboard import SummaryWriter as TorchWriter

import tbwal
from tbload import load


def run_child(code, *args):
    """Run code in a fresh interpreter (same sys.path); return its stdout."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert p.returncode == 0, p.stderr.decode()[-3000:]
    return p.stdout.decode()


BLOCK = """
import sys
for name in sys.argv[2].split(","):
    if name:
        sys.modules[name] = None     # import name now raises ImportError
"""

# The calls, written once, with plain Python / numpy values (no torch).
NO_TORCH_CALLS = """
import numpy as np
def log(w, T):
    # T converts a nested list / numpy array into what the caller passes
    w.add_histogram("h/list", T([0.5, 1.5, 1.5, 2.5, 3.0, -1.0]), 1)
    w.add_histogram("h/np", T(np.linspace(-2, 2, 101)), 2, bins=7)
    w.add_image("img", T(np.linspace(0, 1, 3 * 4 * 5).reshape(3, 4, 5)), 0)
    w.add_images("imgs", T(np.linspace(0, 1, 2 * 4 * 5 * 3).reshape(2, 4, 5, 3)), 0,
                 dataformats="NHWC")
    w.add_audio("snd", T(np.sin(np.linspace(0, 40, 400)) * 0.5), 0, sample_rate=4000)
    w.add_text("txt", "no torch here", 3)
    w.add_hparams({"lr": 0.5, "name": "x"}, {"m": 1.0}, run_name="hp")
    w.add_pr_curve("pr", T([0, 1, 1, 0, 1]), T([0.1, 0.9, 0.6, 0.4, 0.8]), 0, num_thresholds=5)
    w.add_mesh("mesh", T([[[0.0, 0, 0], [1, 0, 0], [0, 1, 0]]]),
               faces=T([[[0, 1, 2]]]), global_step=0)
    w.add_tensor("t", T(np.arange(6, dtype=np.float32).reshape(2, 3)), 0)
    w.add_scalar("s", np.float64(0.5), np.int64(9))
"""


def test_values_numpy_and_lists_without_torch_match_torch(tmp_path):
    root = tmp_path / "notorch"
    out = run_child(BLOCK + NO_TORCH_CALLS + """
import importlib
try:
    import torch
    raise SystemExit("torch imported")
except ImportError:
    pass
import tbwal
w = tbwal.SummaryWriter(sys.argv[1])
log(w, lambda x: x)          # lists as lists, numpy as numpy
w.close()
print("torch" in sys.modules and sys.modules["torch"] is not None)
""", str(root), "torch")
    assert out.strip() == "False"
    ns = {}
    exec(NO_TORCH_CALLS, ns)
    t = TorchWriter(str(tmp_path / "torch"))
    ns["log"](t, lambda x: torch.as_tensor(np.asarray(x)) if not isinstance(x, str) else x)
    t.close()
    got, want = load(root), load(tmp_path / "torch")
    assert sorted(got) == sorted(want) == [".", "hp"]
    for run in want:
        g = {k: [e[:6] for e in v] for k, v in got[run]["tensors"].items()}
        w_ = {k: [e[:6] for e in v] for k, v in want[run]["tensors"].items()}
        assert g == w_, run


def test_values_steps_and_walltimes_converted_like_torch(tmp_path):
    def log(w):
        w.add_text("t", "a", torch.tensor(5))
        w.add_text("t", "b", np.int32(6))
        w.add_text("t", "c", 7.9)                 # int(7.9) == 7
        w.add_text("t", "d", "8")                 # int("8")
        w.add_text("t", "e")                      # None: 0
        w.add_histogram("h", np.array([1.0, 2.0]), np.int64(3), walltime=np.float64(1.7e9))
        w.add_scalar("s", torch.tensor(2.5), torch.tensor(4), walltime=1.7e9 + 1)
        w.close()
    log(TorchWriter(str(tmp_path / "torch")))
    log(tbwal.SummaryWriter(str(tmp_path / "tbwal")))
    want = load(tmp_path / "torch", with_wall_time=True)["."]["tensors"]
    got = load(tmp_path / "tbwal", with_wall_time=True)["."]["tensors"]
    assert [e[0] for e in got["t/text_summary"]] == [5, 6, 7, 8, 0]
    assert {k: [e[:6] for e in v] for k, v in got.items()} == \
        {k: [e[:6] for e in v] for k, v in want.items()}
    assert got["h"][0][6] == want["h"][0][6] == 1.7e9
    assert got["s"][0][6] == want["s"][0][6] == 1.7e9 + 1


MISSING = """
import tbwal, numpy as np
w = tbwal.SummaryWriter(sys.argv[1])
results = {}
def attempt(name, call):
    try:
        call()
        results[name] = "ok"
    except tbwal.MissingDependency as e:
        assert isinstance(e, ImportError) and isinstance(e, tbwal.Error)
        results[name] = str(e)
calls = {
    "add_image": lambda: w.add_image("img", np.zeros((3, 4, 4)), 0),
    "add_figure": lambda: w.add_figure("fig", object(), 0),
    "add_video": lambda: w.add_video("vid", np.zeros((1, 2, 3, 4, 4)), 0),
    "add_onnx_graph": lambda: w.add_onnx_graph("nothing.onnx"),
    "add_text": lambda: w.add_text("txt", "x", 0),
    "add_graph": lambda: w.add_graph(object()),
}
for name in sys.argv[3].split(","):
    attempt(name, calls[name])
w.add_scalar("marker", 1.0, 1)     # the scalar path needs nothing
w.close()
print(json.dumps(results))
"""


@pytest.mark.parametrize("blocked,calls,pip_name", [
    ("PIL,PIL.Image", "add_image", "Pillow"),
    ("matplotlib", "add_figure", "matplotlib"),
    ("moviepy,moviepy.editor", "add_video", "moviepy"),
    ("onnx", "add_onnx_graph", "onnx"),
    ("torch", "add_graph", "torch"),
    ("tensorboard,tensorboard.compat,tensorboard.compat.proto",
     "add_text,add_image,add_figure,add_video,add_onnx_graph,add_graph", "tensorboard"),
])
def test_values_missing_package_names_the_pip_package(tmp_path, blocked, calls, pip_name):
    root = tmp_path / "run"
    out = run_child(BLOCK + "import json\n" + MISSING, str(root), blocked, calls)
    results = json.loads(out.strip().splitlines()[-1])
    for name in calls.split(","):
        assert "pip install %s" % pip_name in results[name], (name, results[name])
    got = load(root)["."]["tensors"]
    assert list(got) == ["marker"], got        # nothing but the scalar was logged


def test_values_record_over_the_cap_is_a_library_error(tmp_path):
    root = tmp_path / "run"
    with tbwal.SummaryWriter(str(root)) as w:
        big = np.zeros(5 << 20, dtype=np.float32)        # 20 MiB of float_val > 16 MiB cap
        with pytest.raises(tbwal.InvalidArgument) as ei:
            w.add_tensor("big", big, 1)
        assert "big" in str(ei.value) or "byte" in str(ei.value), str(ei.value)
        w.add_tensor("small", big[:10], 2)
    got = load(root)["."]["tensors"]
    assert list(got) == ["small"]


def test_values_bad_tag_is_a_library_error(tmp_path):
    root = tmp_path / "run"
    with tbwal.SummaryWriter(str(root)) as w:
        with pytest.raises(tbwal.InvalidArgument):
            w.add_histogram("bad\ttag", [1.0, 2.0], 1)
        with pytest.raises(tbwal.InvalidArgument):
            w.add_histogram("", [1.0, 2.0], 1)
        w.add_histogram("good", [1.0, 2.0], 1)
    assert list(load(root)["."]["tensors"]) == ["good"]


def test_values_torch_type_errors_kept(tmp_path):
    """Bad values fail as torch fails them, before anything is logged."""
    root = tmp_path / "run"
    with tbwal.SummaryWriter(str(root)) as w:
        with pytest.raises(TypeError):
            w.add_hparams([("lr", 1)], {})
        with pytest.raises(ValueError):
            w.add_histogram_raw("h", 0, 1, 2, 1, 1, [1, 2], [1])
        with pytest.raises(AssertionError):
            w.add_image("img", np.zeros((3, 4, 4)), 0, dataformats="NCHW")  # 3-D is not NCHW
        with pytest.raises(ValueError):
            w.add_histogram("h", [], 0)
        w.add_text("ok", "fine", 0)
    assert list(load(root)["."]["tensors"]) == ["ok/text_summary"]


def test_values_file_writer_takes_other_copies_of_the_schema(tmp_path):
    """Frameworks hand FileWriter protos of tensorboardX's (or TensorFlow's) schema."""
    from tensorboardX.proto import event_pb2 as x_event_pb2
    from tensorboardX.proto import summary_pb2 as x_summary_pb2
    root = tmp_path / "run"
    with tbwal.SummaryWriter(str(root)) as w:
        fw = w._get_file_writer()
        s = x_summary_pb2.Summary(value=[x_summary_pb2.Summary.Value(tag="x", simple_value=2.5)])
        fw.add_summary(s, 3)
        fw.add_event(x_event_pb2.Event(summary=x_summary_pb2.Summary(
            value=[x_summary_pb2.Summary.Value(tag="y", simple_value=1.5)])), step=4)
    got = load(root)["."]["tensors"]
    assert [(e[0], e[1]) for e in got["x"]] == [(3, "scalars")]
    assert [(e[0], e[1]) for e in got["y"]] == [(4, "scalars")]


def test_values_forked_child_gets_fork_error_on_every_kind(tmp_path):
    """A DataLoader-style fork child logging through the parent's writer is refused."""
    root = tmp_path / "run"
    w = tbwal.SummaryWriter(str(root))
    w.add_text("parent", "before", 0)
    pid = os.fork()
    if pid == 0:
        code = 0
        for call in (lambda: w.add_text("child", "x", 1),
                     lambda: w.add_histogram("child", np.arange(3.0), 1),
                     lambda: w.file_writer.add_summary(None)):
            try:
                call()
                code = 1
            except tbwal.ForkError:
                pass
            except Exception:
                code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    w.add_text("parent", "after", 1)
    w.close()
    got = load(root)["."]["tensors"]
    assert list(got) == ["parent/text_summary"]
    assert [e[0] for e in got["parent/text_summary"]] == [0, 1]


def test_values_standalone_file_writer(tmp_path):
    root = tmp_path / "fw"
    from tensorboard.compat.proto.summary_pb2 import Summary
    fw = tbwal.FileWriter(str(root), filename_suffix=".x", compact_interval=0)
    fw.add_summary(Summary(value=[Summary.Value(tag="a", simple_value=1.0)]), 1)
    fw.close()
    fw.reopen()
    fw.add_summary(Summary(value=[Summary.Value(tag="a", simple_value=2.0)]), 2)
    fw.flush()
    fw.close()
    assert [e[0] for e in load(root)["."]["tensors"]["a"]] == [1, 2]
    assert all(n.endswith(".x") for n in os.listdir(root) if "tfevents" in n)
