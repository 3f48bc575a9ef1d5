"""crash_child.py LOGDIR SYNC_DIR ROUND -- log scalars, histograms, images and text
through tbwal.SummaryWriter forever, printing "<kind> <i>" once each call has
returned (the parent SIGKILLs this process and counts what was acknowledged).

Call i logs kind KINDS[i % 4] under tag "r<ROUND>/<kind>" at step i, with a
value that the parent recomputes from (kind, i) with expected().
"""
import sys

import numpy as np

import tbwal

KINDS = ("scalar", "hist", "image", "text")


def hist_values(i):
    return np.arange(i % 7 + 3, dtype=np.float64) + i


def image_values(i):
    """3 x 4 x 5 CHW uint8, every pixel i % 251."""
    return np.full((3, 4, 5), i % 251, dtype=np.uint8)


def text_value(i):
    return "text %d" % i


def log(w, rnd, i):
    kind = KINDS[i % 4]
    tag = "r%d/%s" % (rnd, kind)
    if kind == "scalar":
        w.add_scalar(tag, i * 0.5, i)
    elif kind == "hist":
        w.add_histogram(tag, hist_values(i), i)
    elif kind == "image":
        w.add_image(tag, image_values(i), i)
    else:
        w.add_text(tag, text_value(i), i)
    return kind


def main():
    logdir, sync_dir, rnd = sys.argv[1], sys.argv[2], int(sys.argv[3])
    w = tbwal.SummaryWriter(logdir, sync_dir=sync_dir, sync_interval=0.05,
                            compact_interval=0.05)
    from tbwal.writer import _summary
    _summary("warm-up")              # import the builders before the parent starts the clock
    out = sys.stdout
    print("open", flush=True)
    i = 0
    while True:
        kind = log(w, rnd, i)
        out.write("%s %d\n" % (kind, i))
        out.flush()
        i += 1


if __name__ == "__main__":
    main()
