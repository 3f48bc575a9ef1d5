"""test_hf.py -- Hugging Face Transformers' Trainer on tbwal:
TrainingArguments(report_to=["tensorboard"], logging_steps=1) under
tbwal.patch(), and tbwal.hf.TBWalCallback. A tiny GPT-2 from a config, a
synthetic dataset, no hub (HF_HUB_OFFLINE=1). Fresh in TensorBoard's loader
while it trains; SIGKILLed mid-train; after recovery every logged step is
there once, and the args text the callback writes at train begin too."""
import os

import pytest

import fwutil


def text_tags(run_dir):
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    tags = set()
    for f in sorted(os.listdir(run_dir)):
        if "tfevents" in f:
            for ev in EventFileLoader(os.path.join(run_dir, f)).Load():
                for v in ev.summary.value:
                    if v.metadata.plugin_data.plugin_name == "text":
                        tags.add(v.tag)
    return tags


@pytest.mark.parametrize("mode", ["patch", "explicit"])
def test_hf_trainer_is_fresh_and_survives_sigkill(tmp_path, mode):
    child = fwutil.Child("hf_child.py", tmp_path, mode)
    try:
        child.wait_for(lambda c: c.count("hf", "train/loss") >= 15, 300, "15 Trainer steps")
        step, t = child.last("hf", "train/loss")
        lag = fwutil.wait_fresh(tmp_path / "hf", "train/loss", step, t)
        child.wait_for(lambda c: c.count("hf", "train/loss") >= 30, 300, "30 Trainer steps")
    finally:
        fwutil.stop(child)
    writer = [line for line in child.lines if line.startswith("writer ")]
    assert writer and writer[0].endswith(" True"), writer
    runs = fwutil.runs_under(tmp_path)
    assert [os.path.relpath(r, tmp_path) for r in runs] == ["hf"]
    if mode == "patch":
        fwutil.recover(runs[0])          # tbrecover, as a user would after a crash
    else:
        fwutil.reopen(runs[0])           # or a writer opened on the run again
    acked = child.acked()["hf"]
    assert {"train/loss", "train/learning_rate", "train/grad_norm", "train/epoch"} <= set(acked), set(acked)
    total = fwutil.check_exactly_once(runs[0], acked)
    assert "args/text_summary" in text_tags(runs[0])
    print("hf %s: %d acknowledged scalars found once, fresh after %.2f s" % (mode, total, lag))
