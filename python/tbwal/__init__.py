"""tbwal -- a crash-resilient drop-in for torch.utils.tensorboard.SummaryWriter.

Change one import line::

    from tbwal import SummaryWriter      # was: from torch.utils.tensorboard import SummaryWriter

Every scalar is committed to a journal (LMDB, in log_dir/.tbwal) before
add_scalar() returns, so a killed kernel, an OOM or a segfault loses nothing;
a background compactor exports it to TensorBoard event files in log_dir within
about a second (compact_interval). See the README for durability modes and the
sync folder (sync_dir) that protects against losing the whole machine.

Errors raise subclasses of tbwal.Error whose message is the library's own
(operation, path, cause); nothing is dropped silently.
"""

import atexit
import os
import socket
import threading
import time
import weakref
from datetime import datetime

from . import _tbwal
from ._tbwal import (Error, InvalidArgument, OutOfMemory, IOError, DiskFull,  # noqa: F401
                     Corrupt, JournalBusy, Panic, ForkError, VersionError, NotFound,
                     Truncated, WriterClosed, LIBRARY_VERSION)

__all__ = ["SummaryWriter", "Error", "InvalidArgument", "OutOfMemory", "DiskFull",
           "Corrupt", "JournalBusy", "Panic", "ForkError", "VersionError", "NotFound",
           "Truncated", "WriterClosed"]
# tbwal.IOError is deliberately left out of __all__: a star import would
# shadow the builtin name. Use it as tbwal.IOError.

__version__ = LIBRARY_VERSION

_DURABILITY = {
    "interval": _tbwal.DURABILITY_INTERVAL,
    "always": _tbwal.DURABILITY_ALWAYS,
    "never": _tbwal.DURABILITY_NEVER,
}
_SCALAR_FORMAT = {"simple": _tbwal.SCALAR_SIMPLE, "tensor": _tbwal.SCALAR_TENSOR}


def _ms(name, seconds):
    """Seconds (int or float, >= 0) to whole milliseconds for the C options."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        try:
            seconds = float(seconds)
        except (TypeError, ValueError):
            raise TypeError("%s must be a number of seconds, not %s"
                            % (name, type(seconds).__name__)) from None
    if not seconds >= 0 or seconds * 1000 > 0xFFFFFFFF:
        raise ValueError("%s must be between 0 and 4294967 seconds, got %r" % (name, seconds))
    return int(round(seconds * 1000))


# Writers still open, closed at interpreter exit (in the process that opened them).
_live = weakref.WeakSet()
_live_lock = threading.Lock()


@atexit.register
def _close_all_at_exit():
    with _live_lock:
        writers = list(_live)
    for w in writers:
        try:
            w.close()
        except Exception as e:  # nobody can catch it now: say it
            import sys
            print("tbwal: closing %s at exit failed: %s" % (w.log_dir, e), file=sys.stderr)


class SummaryWriter(_tbwal.Writer):
    """Writes scalars to TensorBoard event files in log_dir, through a journal.

    The positional and keyword arguments of torch.utils.tensorboard.SummaryWriter
    are accepted, so existing code runs unchanged:

    log_dir: directory TensorBoard reads (str or path-like). Default, like torch:
        runs/<Mon DD_HH-MM-SS>_<hostname><comment>.
    comment: suffix of the default log_dir; ignored when log_dir is given.
    purge_step: hide from TensorBoard the steps >= purge_step left by an earlier,
        crashed attempt that is resumed at purge_step (same log_dir).
    max_queue, flush_secs: accepted and ignored. They are not needed: every
        scalar is committed before add_scalar returns and exported within
        compact_interval seconds.
    filename_suffix: appended to the event file names.

    Keyword-only, tbwal's own:
    durability: 'interval' (default; commit per call, fsync every
        durability_interval seconds), 'always' (fsync before each call returns)
        or 'never' (the kernel decides). A killed process loses nothing in any
        mode; the modes differ on OS crash or power loss.
    durability_interval: seconds between background fsyncs in 'interval' mode (1.0).
    sync_dir: a second folder (e.g. a mounted Google Drive) that receives the
        journal as immutable, checksummed segments every sync_interval seconds;
        `tbrecover` restores from it after the machine is lost.
    sync_interval: seconds between shipments to sync_dir (5.0).
    compact_interval: seconds between exports to the event files (1.0); 0 exports
        only on flush() and close().
    scalar_format: 'simple' (Summary.Value.simple_value, float32; the default) or
        'tensor' (a rank-0 DT_FLOAT tensor with plugin "scalars"). It is fixed
        per writer; add_scalar's new_style argument does not change it (both
        encodings show the same in TensorBoard). Never DT_DOUBLE, which
        TensorBoard's data server drops, so double_precision is ignored.
    journal_dir: where the journal lives (default log_dir/.tbwal, or a local
        directory when log_dir is on FUSE or NFS).

    add_scalar(tag, scalar_value, global_step=None, walltime=None,
    new_style=False, double_precision=False) is implemented in C (see its
    docstring). As with torch, a closed writer reopens when it is used again.
    """

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10,
                 flush_secs=120, filename_suffix="", *, durability="interval",
                 sync_dir=None, sync_interval=5.0, compact_interval=1.0,
                 durability_interval=1.0, scalar_format="simple", journal_dir=None):
        if not log_dir:
            current_time = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", current_time + "_" + socket.gethostname() + comment)
        if durability not in _DURABILITY:
            raise InvalidArgument("SummaryWriter: durability must be one of %s, got %r"
                                  % (", ".join(map(repr, _DURABILITY)), durability))
        if scalar_format not in _SCALAR_FORMAT:
            raise InvalidArgument("SummaryWriter: scalar_format must be 'simple' or 'tensor', got %r"
                                  % (scalar_format,))
        if purge_step is not None:
            purge_step = _index("purge_step", purge_step)
        if filename_suffix is None:
            filename_suffix = ""
        if not isinstance(filename_suffix, str):
            raise TypeError("filename_suffix must be str, not %s" % type(filename_suffix).__name__)
        self.log_dir = log_dir
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self._opts = dict(
            durability=_DURABILITY[durability],
            durability_interval_ms=_ms("durability_interval", durability_interval),
            compact_interval_ms=_ms("compact_interval", compact_interval),
            scalar_format=_SCALAR_FORMAT[scalar_format],
            sync_dir=None if sync_dir is None else os.fspath(sync_dir),
            sync_interval_ms=_ms("sync_interval", sync_interval),
            filename_suffix=filename_suffix,
            journal_dir=None if journal_dir is None else os.fspath(journal_dir),
        )
        self._lock = threading.RLock()
        self._children = {}   # add_scalars sub-run directory -> Writer
        self._open(os.fspath(log_dir), purge_step=purge_step, **self._opts)
        self.purge_step = None  # like torch: a reopen after close() does not purge again
        with _live_lock:
            _live.add(self)

    def _reopen(self):
        """Called by add_scalar on a closed writer: torch reopens too."""
        self._check_fork("add_scalar")
        with self._lock:
            if self.closed:
                self._open(os.fspath(self.log_dir), **self._opts)
                with _live_lock:
                    _live.add(self)

    def get_logdir(self):
        """Return the directory where event files are written."""
        return self.log_dir

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Log several scalars under one chart, torch's way: one sub-run per key.

        Each key k goes to the run log_dir/<main_tag with '/' replaced by '_'>_<k>,
        with tag main_tag, all with the same walltime.
        """
        if not isinstance(main_tag, str):
            raise TypeError("main_tag must be str, not %s" % type(main_tag).__name__)
        self._check_fork("add_scalars")
        walltime = time.time() if walltime is None else walltime
        base = str(self.get_logdir()) + "/" + main_tag.replace("/", "_") + "_"
        # Convert everything first: a bad value fails the call before any key is logged.
        items = []
        for key, value in tag_scalar_dict.items():
            if not isinstance(key, str):
                raise TypeError("add_scalars: keys of tag_scalar_dict must be str, not %s"
                                % type(key).__name__)
            items.append((key, _tbwal._as_float(value)))
        if self.closed:
            self._reopen()
        for key, value in items:
            fw_tag = base + key
            child = self._children.get(fw_tag)
            if child is None:
                with self._lock:
                    child = self._children.get(fw_tag)
                    if child is None:
                        child = _tbwal.Writer()
                        child._open(fw_tag, **self._opts)
                        self._children[fw_tag] = child
            child.add_scalar(main_tag, value, global_step, walltime)

    def flush(self):
        """Make everything logged so far durable, exported and shipped; GIL released."""
        self._check_fork("flush")
        with self._lock:
            writers = [self] + list(self._children.values())
        for w in writers:
            w._flush()

    def close(self):
        """Flush and close this writer and its add_scalars sub-runs.

        Closing twice does nothing. In a child process after fork() the
        inherited writer is only detached: the parent owns the journal.
        """
        with self._lock:
            children = list(self._children.values())
            self._children = {}
        first = None
        for w in children + [self]:
            try:
                w._close()
            except Error as e:
                if first is None:
                    first = e
        with _live_lock:
            _live.discard(self)
        if first is not None:
            raise first

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.close()

    def __repr__(self):
        return "<tbwal.SummaryWriter log_dir=%r%s>" % (self.log_dir, " closed" if self.closed else "")


def _index(name, v):
    try:
        import operator
        return operator.index(v)
    except TypeError:
        raise TypeError("%s must be an int, not %s" % (name, type(v).__name__)) from None


# Reading back and recovering (python/tbwal/_read.py).
from ._read import read_scalars, read_scalars_df, recover  # noqa: E402
__all__ += ["read_scalars", "read_scalars_df", "recover"]
