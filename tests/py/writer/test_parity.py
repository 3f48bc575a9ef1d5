"""test_parity.py -- every SummaryWriter method through torch's writer and tbwal's
gives the same runs, tags, steps, plugins and payloads in TensorBoard's loader.

One script of realistic calls (log_everything) runs three times: through
torch.utils.tensorboard.SummaryWriter with torch tensors, through
tbwal.SummaryWriter with the same torch tensors, and through tbwal with the
same values as numpy arrays (what a user without torch passes). Each log
directory is read with TensorBoard's plugin_event_multiplexer keeping
everything (tbload.py); the three must be equal (wall times aside, except
where a call passed walltime explicitly: those must match too). The
embedding projector's files must be byte-identical.
"""
import math
import os

import numpy as np
import pytest
import torch
from torch.utils.tensorboard import SummaryWriter as TorchWriter

import tbwal
from tbload import load, other_events

import matplotlib  # noqa: E402
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WALLTIME = 1700000000.25


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)

    def forward(self, x):
        return torch.relu(self.fc(x)).sum(dim=1)


def onnx_model(path):
    import onnx
    from onnx import TensorProto, helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, [2, 3])
    add = helper.make_node("Add", ["x", "y"], ["s"])
    relu = helper.make_node("LeakyRelu", ["s"], ["z"], alpha=0.1)
    graph = helper.make_graph([add, relu], "tiny", [x, y], [z])
    onnx.save(helper.make_model(graph), path)
    return path


def figure(seed):
    fig = plt.figure(figsize=(2, 1.5), dpi=50)
    xs = np.linspace(0, 1, 20)
    plt.plot(xs, np.sin(xs * (seed + 1) * 3))
    return fig


def data():
    """The values every run logs, made once (torch tensors)."""
    g = torch.Generator().manual_seed(14)
    r = lambda *s: torch.rand(*s, generator=g)  # noqa: E731
    d = {
        "hist": torch.randn(1000, generator=g),
        "img_chw": r(3, 16, 24), "img_hwc": r(16, 24, 3), "img_hw": r(16, 24),
        "img_1hw": r(1, 16, 24), "img_u8": (r(3, 10, 12) * 255).to(torch.uint8),
        "imgs": r(5, 3, 8, 10), "imgs_1ch": r(3, 1, 8, 10),
        "vid": r(1, 4, 3, 8, 8), "vid3": (r(3, 2, 3, 6, 6) * 255).to(torch.uint8),
        "snd": torch.sin(torch.linspace(0, 200 * math.pi, 8000)) * 0.8,
        "labels": torch.randint(0, 2, (200,), generator=g), "preds": r(200),
        "mat": torch.randn(20, 5, generator=g), "sprites": r(20, 3, 6, 6),
        "verts": torch.tensor([[[1., 1, 1], [-1, -1, 1], [1, -1, -1], [-1, 1, -1]]]),
        "colors": torch.tensor([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 0, 255]]]),
        "faces": torch.tensor([[[0, 2, 3], [0, 3, 1], [0, 1, 2], [1, 3, 2]]]),
        "boxes": torch.tensor([[1., 1, 10, 10], [5, 3, 20, 14]]),
        "t_f32": torch.randn(2, 3, generator=g), "t_f64": torch.randn(4, dtype=torch.float64),
        "t_i64": torch.arange(6).reshape(2, 3), "t_i32": torch.arange(3, dtype=torch.int32),
        "t_u8": torch.arange(5, dtype=torch.uint8), "t_bool": torch.tensor([True, False]),
        "t_f16": torch.tensor([0.5, -2.0], dtype=torch.float16),
        "t_c64": torch.tensor([1 + 2j, 3 - 1j], dtype=torch.complex64),
    }
    return d


def log_everything(w, d, conv, onnx_path):
    """The same calls for every writer; conv turns a torch tensor into what is passed."""
    c = {k: conv(v) for k, v in d.items()}
    for i in range(3):
        w.add_scalar("loss", 1.0 / (i + 1), i)
    w.add_scalar("loss", c["t_f32"][0, 0], torch.tensor(3))           # tensor value, tensor step
    w.add_scalar("loss", np.float32(0.25), np.int64(4), walltime=WALLTIME)
    w.add_scalar("acc", 0.5, 7.9)                                       # float step: int() -> 7
    w.add_scalars("run_14h", {"xsinx": 1.5, "xcosx": -0.5}, 2)
    w.add_scalars("run_14h", {"xsinx": 2.5, "xcosx": -1.5}, 3, walltime=WALLTIME)
    for tag in ("t_f32", "t_f64", "t_i64", "t_i32", "t_u8", "t_bool", "t_f16", "t_c64"):
        w.add_tensor("tensor/" + tag, c[tag], 1)
    w.add_histogram("hist/default", c["hist"], 0)
    w.add_histogram("hist/default", c["hist"] + 1, 1, walltime=WALLTIME)
    w.add_histogram("hist/auto", c["hist"], 0, bins="auto")
    w.add_histogram("hist/ten", c["hist"], 0, bins=10)
    w.add_histogram("hist/maxbins", c["hist"], 0, max_bins=30)
    vals = np.repeat(np.arange(50) + 0.001, np.arange(50)).astype(float)
    counts, limits = np.histogram(vals, bins=np.arange(52))
    w.add_histogram_raw("hist/raw", min=vals.min(), max=vals.max(), num=len(vals), sum=vals.sum(),
                        sum_squares=vals.dot(vals), bucket_limits=limits[1:].tolist(),
                        bucket_counts=counts.tolist(), global_step=0)
    w.add_image("img/chw", c["img_chw"], 0)
    w.add_image("img/hwc", c["img_hwc"], 0, dataformats="HWC")
    w.add_image("img/hw", c["img_hw"], 0, dataformats="HW")
    w.add_image("img/wh", c["img_hw"], 0, dataformats="WH")
    w.add_image("img/1hw", c["img_1hw"], 0)
    w.add_image("img/u8", c["img_u8"], 1, walltime=WALLTIME)
    nchw = c["imgs"]
    w.add_images("imgs/NCHW", nchw, 0)
    w.add_images("imgs/NHWC", nchw.transpose(0, 2, 3, 1) if isinstance(nchw, np.ndarray)
                 else nchw.permute(0, 2, 3, 1), 0, dataformats="NHWC")
    w.add_images("imgs/NWHC", nchw.transpose(0, 3, 2, 1) if isinstance(nchw, np.ndarray)
                 else nchw.permute(0, 3, 2, 1), 0, dataformats="NWHC")
    w.add_images("imgs/NCHW1", c["imgs_1ch"], 0)
    w.add_images("imgs/CHW", c["img_chw"], 0, dataformats="CHW")
    w.add_images("imgs/HWC", c["img_hwc"], 0, dataformats="HWC")
    w.add_images("imgs/HW", c["img_hw"], 0, dataformats="HW")
    w.add_images("imgs/WH", c["img_hw"], 0, dataformats="WH")
    w.add_image_with_boxes("boxes/labelled", c["img_chw"], c["boxes"], 0, labels=["cat", "dog"])
    w.add_image_with_boxes("boxes/plain", c["img_chw"], c["boxes"], 1, rescale=2)
    w.add_image_with_boxes("boxes/wronglabels", c["img_chw"], c["boxes"], 2, labels="one")
    w.add_figure("fig/one", figure(0), 0)
    w.add_figure("fig/list", [figure(1), figure(2)], 0)
    w.add_video("video/one", c["vid"], 0, fps=4)
    w.add_video("video/batch3_u8", c["vid3"], 1, fps=2)
    w.add_audio("audio/sine", c["snd"], 0, sample_rate=8000)
    w.add_text("notes", "hello **world**", 0)
    w.add_text("notes", "step five: ünïcode", 5, walltime=WALLTIME)
    w.add_hparams({"lr": 0.1, "bsize": 32, "opt": "adam", "flag": True, "none": None},
                  {"hparam/accuracy": 0.9, "hparam/loss": 0.1}, run_name="hp1", global_step=3)
    w.add_hparams({"lr": 0.01, "opt": "sgd"}, {"hparam/accuracy": 0.7},
                  hparam_domain_discrete={"opt": ["adam", "sgd"]}, run_name="hp2")
    w.add_graph(Tiny_model, torch.ones(2, 4))
    w.add_onnx_graph(onnx_path)
    w.add_embedding(c["mat"], metadata=[str(i % 4) for i in range(20)], label_img=c["sprites"],
                    global_step=1, tag="emb")
    w.add_embedding(c["mat"] * 2, metadata=[[i, "odd" if i % 2 else "even"] for i in range(20)],
                    metadata_header=["index", "parity"], tag="a/b")
    w.add_pr_curve("pr", c["labels"], c["preds"], 0)
    w.add_pr_curve("pr", c["labels"], c["preds"], 1, num_thresholds=20)
    tp, fp = np.array([10., 8, 5, 0]), np.array([10., 4, 1, 0])
    w.add_pr_curve_raw("pr/raw", tp, fp, 10 - fp, 10 - tp, tp / np.maximum(tp + fp, 1), tp / 10,
                       0, num_thresholds=4)
    w.add_custom_scalars({"Taiwan": {"twse": ["Multiline", ["twse/0050", "twse/2330"]]},
                          "USA": {"dow": ["Margin", ["dow/aaa", "dow/bbb", "dow/ccc"]]}})
    w.add_custom_scalars_multilinechart(["loss", "acc"], category="cat", title="lines")
    w.add_custom_scalars_marginchart(["loss", "acc", "loss"])
    w.add_mesh("mesh", c["verts"], colors=c["colors"], faces=c["faces"],
               config_dict={"camera": {"cls": "PerspectiveCamera", "fov": 75}}, global_step=0)
    w.add_mesh("mesh/points", c["verts"], global_step=1)
    w.flush()
    w.close()


Tiny_model = None


def projector_files(root):
    got = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".tbwal"]
        for f in filenames:
            if f.endswith((".tsv", ".png", ".pbtxt")):
                p = os.path.join(dirpath, f)
                with open(p, "rb") as fh:
                    got[os.path.relpath(p, root)] = fh.read()
    return got


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    global Tiny_model
    torch.manual_seed(0)
    Tiny_model = Tiny()
    tmp = tmp_path_factory.mktemp("parity")
    onnx_path = onnx_model(str(tmp / "tiny.onnx"))
    d = data()
    roots = {"torch": tmp / "torch", "tbwal": tmp / "tbwal", "tbwal_numpy": tmp / "tbwal_np"}
    log_everything(TorchWriter(str(roots["torch"])), d, lambda t: t, onnx_path)
    log_everything(tbwal.SummaryWriter(str(roots["tbwal"]), compact_interval=0), d,
                   lambda t: t, onnx_path)
    log_everything(tbwal.SummaryWriter(logdir=str(roots["tbwal_numpy"])), d,
                   lambda t: t.numpy(), onnx_path)
    return {k: (load(v), projector_files(v), v) for k, v in roots.items()}


def test_parity_same_runs_tags_and_steps(logged):
    want = logged["torch"][0]
    assert set(want) == {".", "hp1", "hp2", "run_14h_xsinx", "run_14h_xcosx"}
    for name in ("tbwal", "tbwal_numpy"):
        got = logged[name][0]
        assert sorted(got) == sorted(want), name
        for run in want:
            assert sorted(got[run]["tensors"]) == sorted(want[run]["tensors"]), (name, run)
            for tag, events in want[run]["tensors"].items():
                steps = [e[0] for e in events]
                assert [e[0] for e in got[run]["tensors"][tag]] == steps, (name, run, tag)


def test_parity_same_plugins_and_payloads(logged):
    want = logged["torch"][0]
    n = 0
    for name in ("tbwal", "tbwal_numpy"):
        got = logged[name][0]
        for run in want:
            for tag, events in want[run]["tensors"].items():
                mine = got[run]["tensors"][tag]
                for a, b in zip(events, mine):
                    assert a[1:6] == b[1:6], (name, run, tag, a[:5], b[:5])
                    n += 1
    # every kind of plugin the calls log is there
    plugins = {e[1] for r in want.values() for evs in r["tensors"].values() for e in evs}
    assert plugins >= {"scalars", "histograms", "images", "audio", "text", "hparams", "tensor",
                       "pr_curves", "custom_scalars", "mesh"}, plugins
    assert n > 100


def test_parity_explicit_walltime_kept(tmp_path):
    """A walltime passed to a call is the event's wall_time, as with torch."""
    root = tmp_path / "wt"
    with tbwal.SummaryWriter(str(root)) as w:
        w.add_text("t", "x", 1, walltime=WALLTIME)
        w.add_histogram("h", np.arange(10), 2, walltime=WALLTIME + 1)
        w.add_scalars("s", {"a": 1.0}, 3, walltime=WALLTIME + 2)
    got = load(root, with_wall_time=True)
    assert got["."]["tensors"]["t/text_summary"][0][6] == WALLTIME
    assert got["."]["tensors"]["h"][0][6] == WALLTIME + 1
    assert got["s_a"]["tensors"]["s"][0][6] == WALLTIME + 2


def test_parity_graphs(logged):
    want = logged["torch"][0]["."]
    for name in ("tbwal", "tbwal_numpy"):
        got = logged[name][0]["."]
        assert want["graph"] is not None
        assert got["graph"] == want["graph"], name
        assert got["run_metadata"] == want["run_metadata"], name
    # The raw events (tbwal's own sacrificial SessionLog START at a run's start aside:
    # doc/compactor.md): add_graph's graph and step stats, add_onnx_graph's graph.
    def graphs(root):
        return [e for e in other_events(root) if e[0] != "session_log"]
    want = graphs(logged["torch"][2])
    assert [k for k, _, _ in want] == ["graph_def", "tagged_run_metadata", "graph_def"], want
    for name in ("tbwal", "tbwal_numpy"):
        assert graphs(logged[name][2]) == want, name


def test_parity_embedding_projector_files(logged):
    want = logged["torch"][1]
    assert set(want) == {"projector_config.pbtxt", "00001/emb/tensors.tsv",
                         "00001/emb/metadata.tsv", "00001/emb/sprite.png",
                         "00000/a%2fb/tensors.tsv", "00000/a%2fb/metadata.tsv"}, sorted(want)
    for name in ("tbwal", "tbwal_numpy"):
        got = logged[name][1]
        assert sorted(got) == sorted(want), name
        for f in want:
            assert got[f] == want[f], (name, f)


def test_parity_video_is_a_real_gif(logged):
    """torch's add_video works in this venv (moviepy 1.0.3): both log real GIFs."""
    for name in ("torch", "tbwal"):
        ev = logged[name][0]["."]["tensors"]["video/one"][0]
        assert ev[1] == "images"
        from tensorboard.util import tensor_util
        from tensorboard.compat.proto.tensor_pb2 import TensorProto
        tp = TensorProto.FromString(ev[5])
        assert tensor_util.make_ndarray(tp)[2][:6] in (b"GIF89a", b"GIF87a"), name
