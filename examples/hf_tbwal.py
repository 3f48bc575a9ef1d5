"""hf_tbwal.py -- a Hugging Face Trainer with report_to=["tensorboard"] on tbwal
(tbwal.patch()), or tbwal.hf.TBWalCallback with --explicit. A tiny GPT-2 built
from a config and a synthetic dataset: nothing is downloaded.

    HF_HUB_OFFLINE=1 python examples/hf_tbwal.py [--explicit] [OUTPUT_DIR]
"""
import sys

import tbwal

explicit = "--explicit" in sys.argv
args = [a for a in sys.argv[1:] if a != "--explicit"]
out = args[0] if args else "runs/hf"
if not explicit:
    tbwal.patch()

import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments  # noqa: E402

ids = torch.randint(0, 32, (64, 8), generator=torch.Generator().manual_seed(0))
data = [{"input_ids": r, "labels": r} for r in ids]
model = GPT2LMHeadModel(GPT2Config(vocab_size=32, n_positions=16, n_embd=16, n_layer=1, n_head=2,
                                   bos_token_id=0, eos_token_id=0))
targs = TrainingArguments(output_dir=out, logging_steps=1, num_train_epochs=2, save_strategy="no",
                          per_device_train_batch_size=8, use_cpu=True, disable_tqdm=True,
                          report_to="none" if explicit else ["tensorboard"])
callbacks = []
if explicit:
    from tbwal.hf import TBWalCallback
    callbacks.append(TBWalCallback())                    # tbwal options may be given: sync_dir=...
Trainer(model=model, args=targs, train_dataset=data, callbacks=callbacks).train()
print("logged to", out + "/runs")
