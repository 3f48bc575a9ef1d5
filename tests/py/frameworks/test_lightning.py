"""test_lightning.py -- Lightning 2.6 on tbwal: its own TensorBoardLogger under
tbwal.patch(), and tbwal.lightning.TBWalLogger. Hyperparameters
(save_hyperparameters -> log_hyperparams), every step's metrics
(log_every_n_steps=1) and log_graph=True; fresh in TensorBoard's loader while
it trains; SIGKILLed mid-fit; after recovery (tbrecover, or reopening) every logged
step is there once."""
import os

import pytest

import fwutil


@pytest.mark.parametrize("mode", ["patch", "explicit"])
def test_lightning_logger_is_fresh_and_survives_sigkill(tmp_path, mode):
    child = fwutil.Child("lightning_child.py", tmp_path, mode)
    try:
        child.wait_for(lambda c: c.count("lit/version_0", "train_loss") >= 20, 300, "20 Lightning steps")
        step, t = child.last("lit/version_0", "train_loss")
        lag = fwutil.wait_fresh(tmp_path / "lit" / "version_0", "train_loss", step, t)
        child.wait_for(lambda c: c.count("lit/version_0", "train_loss") >= 40, 300, "40 Lightning steps")
    finally:
        fwutil.stop(child)
    writer = [line for line in child.lines if line.startswith("writer ")]
    assert writer and writer[0].endswith(" True"), writer  # a tbwal.SummaryWriter, in both modes
    runs = fwutil.runs_under(tmp_path)
    assert [os.path.relpath(r, tmp_path) for r in runs] == ["lit/version_0"]
    if mode == "patch":
        fwutil.recover(runs[0])          # tbrecover, as a user would after a crash
    else:
        fwutil.reopen(runs[0])           # or a writer opened on the run again
    acked = child.acked()["lit/version_0"]
    assert {"train_loss", "epoch", "hp_metric"} <= set(acked)
    total = fwutil.check_exactly_once(runs[0], acked)
    tags, graph = fwutil.plugin_tags(runs[0])
    assert ("hparams", "_hparams_/experiment") in tags and ("hparams", "_hparams_/session_start_info") in tags
    assert graph, "log_graph=True: no graph_def event"
    print("lightning %s: %d acknowledged scalars found once, fresh after %.2f s" % (mode, total, lag))
