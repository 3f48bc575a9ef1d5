"""tbwal.hf -- Hugging Face Transformers' TensorBoard callback on a tbwal journal.

    from tbwal.hf import TBWalCallback
    args = TrainingArguments("out", report_to="none", logging_steps=1)
    Trainer(model, args, train_dataset=ds, callbacks=[TBWalCallback(sync_dir="/content/drive/MyDrive/tbwal")])

TBWalCallback is transformers.integrations.TensorBoardCallback (the same
tags, the args/model_config texts, the run directory
output_dir/runs/<date>_<host>, or $TENSORBOARD_LOGGING_DIR) whose writer is a
tbwal.SummaryWriter; tbwal's keyword options (sync_dir, durability,
compact_interval, ...) default to tbwal.patch()'s. Give report_to="none" (or
leave "tensorboard" out of it), or Transformers adds its own TensorBoard
callback beside this one.

Under tbwal.patch(), report_to=["tensorboard"] is journal-backed without this
class, as long as the Trainer is made after patch(): the callback imports
torch.utils.tensorboard.SummaryWriter when the Trainer makes it.
"""

from transformers.integrations import TensorBoardCallback

from .patch import options as _patch_options

__all__ = ["TBWalCallback"]


class TBWalCallback(TensorBoardCallback):
    """TensorBoardCallback writing through tbwal.

    tb_writer: an already open writer to use (a tbwal.SummaryWriter), as with
    TensorBoardCallback. tbwal_options: tbwal.SummaryWriter keyword options
    for the writer this callback makes.
    """

    def __init__(self, tb_writer=None, **tbwal_options):
        super().__init__(tb_writer)
        from .writer import SummaryWriter
        opts = _patch_options()
        opts.update(tbwal_options)
        from .writer import _open_options
        _open_options(**opts)  # a bad option fails here, not at on_train_begin

        def make(log_dir=None, **kwargs):
            merged = dict(opts)
            merged.update(kwargs)
            return SummaryWriter(log_dir=log_dir, **merged)

        self._SummaryWriter = make
