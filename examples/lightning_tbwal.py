"""lightning_tbwal.py -- Lightning's TensorBoardLogger on tbwal (tbwal.patch()),
or tbwal.lightning.TBWalLogger with --explicit.

    python examples/lightning_tbwal.py [--explicit] [SAVE_DIR]
"""
import sys

import tbwal

explicit = "--explicit" in sys.argv
args = [a for a in sys.argv[1:] if a != "--explicit"]
save_dir = args[0] if args else "runs/lightning"
if not explicit:
    tbwal.patch()

import torch  # noqa: E402
import lightning.pytorch as pl  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402


class Tiny(pl.LightningModule):
    def __init__(self, lr=0.05):
        super().__init__()
        self.save_hyperparameters()                      # -> log_hyperparams
        self.net = torch.nn.Linear(4, 1)
        self.example_input_array = torch.zeros(1, 4)     # for log_graph=True

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


if explicit:
    from tbwal.lightning import TBWalLogger
    logger = TBWalLogger(save_dir, log_graph=True)       # tbwal options may follow: sync_dir=...
else:
    from lightning.pytorch.loggers import TensorBoardLogger
    logger = TensorBoardLogger(save_dir, log_graph=True)
x = torch.randn(256, 4)
y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
trainer = pl.Trainer(max_epochs=3, log_every_n_steps=1, logger=logger, accelerator="cpu",
                     enable_checkpointing=False, enable_progress_bar=False)
trainer.fit(Tiny(), DataLoader(TensorDataset(x, y), batch_size=8))
exp = type(logger.experiment)
print("logged to", logger.log_dir, "with", exp.__module__ + "." + exp.__qualname__)
