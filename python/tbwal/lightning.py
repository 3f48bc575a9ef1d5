"""tbwal.lightning -- a Lightning TensorBoardLogger on a tbwal journal.

    from tbwal.lightning import TBWalLogger
    trainer = Trainer(logger=TBWalLogger("logs", sync_dir="/content/drive/MyDrive/tbwal"))

TBWalLogger is lightning.pytorch.loggers.TensorBoardLogger (same arguments,
same layout save_dir/name/version_N, hyperparameters, log_graph) whose
experiment is a tbwal.SummaryWriter. Extra keyword arguments go to the
writer as with TensorBoardLogger, so tbwal's options (sync_dir, durability,
compact_interval, ...) are passed the same way; those not given default to
tbwal.patch()'s.

Under tbwal.patch() Lightning's own TensorBoardLogger is journal-backed too
(it imports torch.utils.tensorboard.SummaryWriter when it makes its writer);
TBWalLogger is for those who prefer to name it, or do not want to patch.
"""

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.loggers import TensorBoardLogger

from .patch import options as _patch_options

__all__ = ["TBWalLogger"]


class TBWalLogger(TensorBoardLogger):
    """lightning.pytorch.loggers.TensorBoardLogger writing through tbwal."""

    @property
    @rank_zero_experiment
    def experiment(self):
        """The tbwal.SummaryWriter of this run (made on first use, on global rank 0)."""
        if self._experiment is not None:
            return self._experiment
        assert rank_zero_only.rank == 0, "tried to init log dirs in non global_rank=0"
        if self.root_dir:
            self._fs.makedirs(self.root_dir, exist_ok=True)
        from .writer import SummaryWriter
        kwargs = _patch_options()
        kwargs.update(self._kwargs)
        self._experiment = SummaryWriter(log_dir=self.log_dir, **kwargs)
        return self._experiment
