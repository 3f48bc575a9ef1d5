"""ddp_child.py LOGDIR SYNC_DIR -- a 2-process DDP run on the CPU (gloo,
torch.multiprocessing.spawn) that trains until killed:
(a) rank 0 logs the run's metrics through torch's SummaryWriter under
    tbwal.patch() into LOGDIR/main,
(b) every rank logs its own loss into LOGDIR/rank-N,
all with one sync_dir (SYNC_DIR). Every 10 steps each writer flushes (which
ships to SYNC_DIR) and says so: "ack RUN shipped STEP"."""
import os
import socket
import sys
import time

import no_tf  # noqa: F401  (before anything imports tensorboard)


def worker(rank, world, logdir, sync_dir, port):
    import tbwal
    # spawn starts a fresh interpreter per rank: patch in each process
    tbwal.patch(sync_dir=sync_dir, sync_interval=0.5)
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    from torch.utils.tensorboard import SummaryWriter
    from ackutil import ack

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(rank)
    model = DDP(torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    writers = {"rank-%d" % rank: SummaryWriter(os.path.join(logdir, "rank-%d" % rank))}
    if rank == 0:
        writers["main"] = SummaryWriter(os.path.join(logdir, "main"))
    assert all(isinstance(w, tbwal.SummaryWriter) for w in writers.values())
    step = 0
    while True:
        x = torch.randn(8, 4)
        loss = ((model(x) - x.sum(1, keepdim=True)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        writers["rank-%d" % rank].add_scalar("loss", loss.item(), step)
        ack("rank-%d" % rank, "loss", step)
        if rank == 0:
            avg = loss.detach().clone()
            dist.all_reduce(avg)
            writers["main"].add_scalar("loss/mean", avg.item() / world, step)
            ack("main", "loss/mean", step)
        else:
            dist.all_reduce(loss.detach().clone())
        if step % 10 == 9:
            for run, w in writers.items():
                w.flush()
                ack(run, "shipped", step)
        step += 1
        time.sleep(0.01)


if __name__ == "__main__":
    import torch.multiprocessing as mp
    from ackutil import say
    logdir, sync_dir = sys.argv[1], sys.argv[2]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    say("start")
    mp.spawn(worker, args=(2, logdir, sync_dir, port), nprocs=2, join=True)
