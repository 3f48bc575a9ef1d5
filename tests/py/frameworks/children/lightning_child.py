"""lightning_child.py LOGDIR MODE -- Lightning 2.6 trains a tiny model until killed.
MODE patch: Lightning's own TensorBoardLogger under tbwal.patch();
MODE explicit: tbwal.lightning.TBWalLogger. Both with save_hyperparameters
(log_hyperparams), log_every_n_steps=1 and log_graph=True."""
import sys
import time

import no_tf  # noqa: F401  (before anything imports tensorboard)
import tbwal

logdir, mode = sys.argv[1], sys.argv[2]
if mode == "patch":
    tbwal.patch()

import torch  # noqa: E402
import lightning.pytorch as pl  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from ackutil import say  # noqa: E402
from instrument import ack_scalars  # noqa: E402


class Tiny(pl.LightningModule):
    def __init__(self, lr=0.05, hidden=8):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
        self.example_input_array = torch.zeros(2, 4)

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss)
        time.sleep(0.01)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


class Ack(pl.Callback):
    def setup(self, trainer, pl_module, stage):
        exp = trainer.logger.experiment
        say("writer", type(exp).__module__ + "." + type(exp).__qualname__, isinstance(exp, tbwal.SummaryWriter))
        ack_scalars(exp, logdir)


torch.manual_seed(0)
x = torch.randn(64, 4)
y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
if mode == "patch":
    from lightning.pytorch.loggers import TensorBoardLogger
    logger = TensorBoardLogger(logdir, name="lit", log_graph=True)
else:
    from tbwal.lightning import TBWalLogger
    logger = TBWalLogger(logdir, name="lit", log_graph=True)
trainer = pl.Trainer(max_epochs=1000, log_every_n_steps=1, logger=logger, callbacks=[Ack()],
                     accelerator="cpu", devices=1, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False)
say("start")
trainer.fit(Tiny(), DataLoader(TensorDataset(x, y), batch_size=4))
say("finished")
