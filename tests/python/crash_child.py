"""crash_child.py LOGDIR TAG START DURABILITY -- log TAG at steps START, START+1,
... forever, printing each step once add_scalar has returned for it (the
parent SIGKILLs this process and counts what was acknowledged)."""
import sys

import tbwal

logdir, tag, start, durability = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
w = tbwal.SummaryWriter(logdir, durability=durability, compact_interval=0.05)
out = sys.stdout
print("open", flush=True)
i = start
while True:
    w.add_scalar(tag, float(i) * 0.5, i)
    out.write("%d\n" % i)
    out.flush()
    i += 1
