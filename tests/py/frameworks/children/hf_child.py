"""hf_child.py LOGDIR MODE -- a Hugging Face Trainer trains a tiny GPT-2 built
from a config (no hub download) on a synthetic dataset until killed.
MODE patch: report_to=["tensorboard"] under tbwal.patch();
MODE explicit: report_to="none" and tbwal.hf.TBWalCallback."""
import os
import sys
import time

import no_tf  # noqa: F401  (before anything imports tensorboard)
import tbwal

logdir, mode = sys.argv[1], sys.argv[2]
if mode == "patch":
    tbwal.patch()

import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments  # noqa: E402
from transformers.integrations import TensorBoardCallback  # noqa: E402

from ackutil import say  # noqa: E402
from instrument import ack_scalars  # noqa: E402

os.environ["TENSORBOARD_LOGGING_DIR"] = os.path.join(logdir, "hf")


class Data(torch.utils.data.Dataset):
    def __init__(self, n=64, length=8):
        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, 32, (n, length), generator=g)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


class Ack(TrainerCallback):
    """Runs after the TensorBoard callback (user callbacks come last)."""

    def __init__(self):
        self.trainer = None

    def on_train_begin(self, args, state, control, **kwargs):
        tb = [c for c in self.trainer.callback_handler.callbacks if isinstance(c, TensorBoardCallback)]
        assert len(tb) == 1, tb
        w = tb[0].tb_writer
        say("writer", type(tb[0]).__name__, type(w).__module__ + "." + type(w).__qualname__,
            isinstance(w, tbwal.SummaryWriter))
        ack_scalars(w, logdir)

    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(0.01)


model = GPT2LMHeadModel(GPT2Config(vocab_size=32, n_positions=16, n_embd=16, n_layer=1, n_head=2,
                                   bos_token_id=0, eos_token_id=0))
args = TrainingArguments(output_dir=os.path.join(logdir, "out"), logging_steps=1, max_steps=100000,
                         per_device_train_batch_size=4, save_strategy="no", use_cpu=True,
                         report_to=["tensorboard"] if mode == "patch" else "none",
                         disable_tqdm=True, dataloader_num_workers=0, learning_rate=1e-3)
ack = Ack()
if mode == "patch":
    callbacks = [ack]
else:
    from tbwal.hf import TBWalCallback
    callbacks = [TBWalCallback(), ack]
trainer = Trainer(model=model, args=args, train_dataset=Data(), callbacks=callbacks)
ack.trainer = trainer
say("start")
trainer.train()
say("finished")
