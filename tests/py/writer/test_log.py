"""test_log.py -- SummaryWriter.log(metrics, step): one commit per training
step (tbw_add_scalars), all or nothing, read back by TensorBoard's loader."""
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import tbwal


def _scalars(logdir):
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def test_log_writes_every_metric_at_the_step(tmp_path):
    w = tbwal.SummaryWriter(tmp_path / "run")
    for step in range(5):
        w.log({"loss": 1.0 / (step + 1), "acc": np.float32(step / 10), "lr": 1e-3}, step)
    w.close()
    got = _scalars(tmp_path / "run")
    assert sorted(got) == ["acc", "loss", "lr"]
    assert got["loss"] == [(s, pytest.approx(1.0 / (s + 1))) for s in range(5)]
    assert got["acc"] == [(s, pytest.approx(s / 10)) for s in range(5)]
    assert [s for s, _ in got["lr"]] == list(range(5))


def test_log_is_all_or_nothing(tmp_path):
    w = tbwal.SummaryWriter(tmp_path / "run")
    w.log({"loss": 0.5}, 0)
    with pytest.raises(tbwal.InvalidArgument):
        w.log({"loss": 0.25, "bad\ntag": 1.0}, 1)
    with pytest.raises(TypeError):
        w.log({"loss": 0.25, "acc": "not a number"}, 1)
    with pytest.raises(TypeError):
        w.log([("loss", 1.0)], 1)
    w.log({}, 2)
    w.close()
    assert _scalars(tmp_path / "run") == {"loss": [(0, 0.5)]}


def test_log_reopens_a_closed_writer_like_add_scalar(tmp_path):
    w = tbwal.SummaryWriter(tmp_path / "run")
    w.log({"loss": 1.0}, 0)
    w.close()
    w.log({"loss": 2.0}, 1)
    w.close()
    assert _scalars(tmp_path / "run")["loss"] == [(0, 1.0), (1, 2.0)]
