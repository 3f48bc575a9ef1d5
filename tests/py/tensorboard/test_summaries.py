"""test_summaries.py -- non-scalar summaries through the real TensorBoard.

The same calls (histograms, images, audio, text, PR curves, and a scalar)
are made with the same values through tbwal's SummaryWriter into run "tbwal"
and through torch.utils.tensorboard's own SummaryWriter into run "torch",
side by side in one logdir. TensorBoard serves both, with each loader, and
every plugin route below must return the same for the two runs: the same
tags, steps and values, and byte for byte the same images and audio (wall
times aside: the runs were written at different times). The routes are the
plugins' own (tensorboard/plugins/*/*_plugin.py get_plugin_apps):

    scalars        /tags, /scalars?run&tag
    histograms     /tags, /histograms?run&tag
    distributions  /tags, /distributions?run&tag
    images         /tags, /images?run&tag&sample, /individualImage?<query>
    audio          /tags, /audio?run&tag&sample, /individualAudio?<query>
    text           /tags, /text?run&tag
    pr_curves      /tags, /pr_curves?run&tag

Each plugin must also serve something for torch's run, so that equality of
two empty answers cannot pass.
"""
import math
import urllib.parse

import numpy as np
import pytest
import torch
from torch.utils.tensorboard import SummaryWriter as TorchWriter

import tbwal

STEPS = 3


def values():
    g = torch.Generator().manual_seed(16)
    return {
        "hist": torch.randn(1000, generator=g),
        "img": torch.rand(3, 16, 24, generator=g),
        "imgs": torch.rand(4, 3, 8, 10, generator=g),
        "snd": torch.sin(torch.linspace(0, 200 * math.pi, 8000)) * 0.8,
        "labels": torch.randint(0, 2, (200,), generator=g),
        "preds": torch.rand(200, generator=g),
    }


def log_everything(w, d):
    for step in range(STEPS):
        w.add_scalar("loss", 1.0 / (step + 1), step)
        w.add_histogram("weights", d["hist"] * (step + 1), step)
        w.add_image("image", d["img"] * (step + 1) / STEPS, step)
        w.add_images("batch", d["imgs"] * (step + 1) / STEPS, step)
        w.add_audio("sound", d["snd"] / (step + 1), step, sample_rate=8000)
        w.add_text("notes", "step **%d** of %d" % (step, STEPS), step)
        w.add_pr_curve("pr", d["labels"], d["preds"] ** (step + 1), step)
    w.close()


def run_tags(tags_json, run):
    """The tags a plugin's /tags route lists for run (a dict or a list)."""
    t = tags_json.get(run, {})
    return sorted(t.keys() if isinstance(t, dict) else t)


def q(**kw):
    return urllib.parse.urlencode(kw)


def served(tb, run):
    """{(plugin, tag): what the plugin's routes return for run, wall times
    dropped, blobs fetched}."""
    out = {}
    for plugin in ("scalars", "histograms", "distributions", "images", "audio", "text", "pr_curves"):
        tags = run_tags(tb.get("/data/plugin/%s/tags" % plugin), run)
        out[(plugin, None)] = tags
        for tag in tags:
            if plugin == "scalars":
                v = [(s, x) for _, s, x in tb.get("/data/plugin/scalars/scalars?" + q(run=run, tag=tag))]
            elif plugin in ("histograms", "distributions"):
                v = [(s, x) for _, s, x in tb.get("/data/plugin/%s/%s?%s" % (plugin, plugin, q(run=run, tag=tag)))]
            elif plugin in ("images", "audio"):
                item = {"images": "individualImage", "audio": "individualAudio"}[plugin]
                v = []
                for e in tb.get("/data/plugin/%s/%s?%s" % (plugin, plugin, q(run=run, tag=tag, sample=0))):
                    blob = tb.get_bytes("/data/plugin/%s/%s?%s" % (plugin, item, e["query"]))
                    v.append((e["step"], {k: e[k] for k in e if k not in ("wall_time", "query")}, blob))
            elif plugin == "text":
                v = [(e["step"], e["text"]) for e in tb.get("/data/plugin/text/text?" + q(run=run, tag=tag))]
            else:
                v = [{k: e[k] for k in e if k != "wall_time"}
                     for e in tb.get("/data/plugin/pr_curves/pr_curves?" + q(run=run, tag=tag))[run]]
            out[(plugin, tag)] = v
    return out


def test_every_plugin_serves_tbwal_s_run_like_torch_s(tmp_path, load_fast, tensorboard):
    root = tmp_path / "logs"
    root.mkdir()
    tb = tensorboard(root, load_fast)
    d = values()
    log_everything(TorchWriter(str(root / "torch")), d)
    log_everything(tbwal.SummaryWriter(str(root / "tbwal")), d)

    def complete():
        got = served(tb, "torch"), served(tb, "tbwal")
        ok = all(len(v) == STEPS for k, v in got[0].items() if k[1] is not None)
        return got if ok and got[0] == got[1] else None
    tb.wait_for(complete, timeout=60)
    tb.settle()
    want, got = served(tb, "torch"), served(tb, "tbwal")
    # torch's run: every plugin serves its tags, every tag all its steps
    expect = {"scalars": ["loss"], "histograms": ["weights"], "distributions": ["weights"],
              "images": ["batch", "image"], "audio": ["sound"], "text": ["notes/text_summary"], "pr_curves": ["pr"]}
    assert {p: want[(p, None)] for p in expect} == expect, tb.name
    for k, v in want.items():
        if k[1] is not None:
            assert len(v) == STEPS, (k, v)
    assert got.keys() == want.keys()
    for k in want:
        assert got[k] == want[k], k
