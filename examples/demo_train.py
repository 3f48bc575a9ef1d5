"""demo_train.py -- a simulated training run that logs to TensorBoard through
tbwal.SummaryWriter (no GPU, no torch): four tags per batch, the journal
synced to a folder that stands in for a mounted Google Drive.

    /usr/bin/python3 examples/demo_train.py LOGDIR [--sync-dir DIR] [--steps N]
                                             [--step-time S] [--sync-interval S]
                                             [--writer tbwal|buffered] [--lockstep]

--writer real logs the same events through the writer people use instead:
torch.utils.tensorboard.SummaryWriter when torch is installed, else
tensorboardX's (both: a queue of 10 events, a background thread, a flush
every 120 s), for comparison. --writer buffered uses a model of them
(bench/bench_python.py) for machines with neither.

--lockstep is how examples/crash_demo.py drives two of these runs side by
side: before each batch the script waits for a line on stdin, and after the
batch's add_scalar calls have all returned it prints the step on stdout. So at
any moment the driver knows exactly which scalars were acknowledged, and two
runs killed together have logged exactly the same scalars.
"""
import argparse
import math
import os
import random
import sys
import time

TAGS = ("train/loss", "train/accuracy", "train/lr", "train/grad_norm")


def batch_metrics(step, rng):
    """What a training step would report: a noisy, decaying loss and friends."""
    loss = 2.3 * math.exp(-step / 300.0) + 0.05 + rng.gauss(0.0, 0.03)
    acc = min(1.0, max(0.0, 1.0 - loss / 2.4 + rng.gauss(0.0, 0.01)))
    lr = 1e-3 * 0.5 * (1.0 + math.cos(math.pi * min(step, 5000) / 5000.0))
    grad_norm = abs(rng.gauss(1.0 / (1.0 + step / 200.0), 0.05))
    return {"train/loss": loss, "train/accuracy": acc, "train/lr": lr, "train/grad_norm": grad_norm}


def real_writer_name():
    """The writer people use: torch's own when torch is installed, else
    tensorboardX (the same queue-of-10, background thread, 120 s flush)."""
    try:
        import torch.utils.tensorboard  # noqa: F401
        return "torch"
    except ImportError:
        import tensorboardX  # noqa: F401
        return "tensorboardX"


def open_writer(args):
    if args.writer == "real":
        if real_writer_name() == "torch":
            from torch.utils.tensorboard import SummaryWriter as Real
        else:
            from tensorboardX import SummaryWriter as Real
        return Real(args.logdir)
    if args.writer == "buffered":
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
        from bench_python import BufferedPyWriter  # the torch-like baseline
        return BufferedPyWriter(args.logdir)
    from tbwal import SummaryWriter
    return SummaryWriter(args.logdir, sync_dir=args.sync_dir, sync_interval=args.sync_interval)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("logdir")
    ap.add_argument("--sync-dir", default=None, help="folder standing in for Google Drive")
    ap.add_argument("--sync-interval", type=float, default=5.0, help="seconds between syncs (5)")
    ap.add_argument("--steps", type=int, default=500, help="batches to run (unbounded with --lockstep)")
    ap.add_argument("--step-time", type=float, default=0.02, help="simulated seconds of compute per batch")
    ap.add_argument("--writer", choices=("tbwal", "real", "buffered"), default="tbwal")
    ap.add_argument("--lockstep", action="store_true", help="step when told on stdin, ack on stdout")
    args = ap.parse_args()

    rng = random.Random(1234)  # same values in every run
    w = open_writer(args)
    print("ready", flush=True)
    step = 0
    while args.lockstep or step < args.steps:
        if args.lockstep:
            if not sys.stdin.readline():  # driver closed the pipe: finish normally
                break
        else:
            time.sleep(args.step_time)  # the forward and backward pass
        for tag, value in batch_metrics(step, rng).items():
            w.add_scalar(tag, value, step)
        if args.lockstep:
            sys.stdout.write("%d\n" % step)  # every add_scalar of this batch returned
            sys.stdout.flush()
        step += 1
    w.close()
    if not args.lockstep:
        print("logged %d batches x %d tags to %s" % (step, len(TAGS), args.logdir))


if __name__ == "__main__":
    main()
