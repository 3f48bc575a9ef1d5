"""ddp_tbwal.py -- torch DDP (2 CPU processes, gloo) on tbwal: rank 0 logs the run,
every rank logs its own run (LOGDIR/rank-N), all shipped to one sync folder.

    python examples/ddp_tbwal.py [LOGDIR] [SYNC_DIR]

After losing the machine: for each SYNC_DIR/<run>-<id>,
    tbrecover --from SYNC_DIR/<run>-<id> LOGDIR/<run>
"""
import os
import socket
import sys


def worker(rank, world, logdir, sync_dir, port):
    import tbwal
    tbwal.patch(sync_dir=sync_dir)       # every spawned process patches for itself
    import torch
    import torch.distributed as dist
    from torch.utils.tensorboard import SummaryWriter

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    mine = SummaryWriter(os.path.join(logdir, "rank-%d" % rank))
    main = SummaryWriter(os.path.join(logdir, "main")) if rank == 0 else None
    for step in range(100):
        x = torch.randn(8, 4)
        loss = ((model(x) - x.sum(1, keepdim=True)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        mine.add_scalar("loss", loss.item(), step)
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        if main is not None:
            main.add_scalar("loss/mean", mean.item() / world, step)
    mine.close()
    if main is not None:
        main.close()
    dist.destroy_process_group()


if __name__ == "__main__":
    import torch.multiprocessing as mp
    logdir = sys.argv[1] if len(sys.argv) > 1 else "runs/ddp"
    sync_dir = sys.argv[2] if len(sys.argv) > 2 else "runs/ddp-sync"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(worker, args=(2, logdir, sync_dir, port), nprocs=2, join=True)
    print("logged to", logdir, "shipped to", sync_dir)
