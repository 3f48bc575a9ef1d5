"""tbwal -- a crash-resilient drop-in for torch.utils.tensorboard.SummaryWriter.

Change one import line::

    from tbwal import SummaryWriter      # was: from torch.utils.tensorboard import SummaryWriter

Every call (scalars, histograms, images, text, hparams, graphs...) is
committed to a journal (LMDB, in log_dir/.tbwal) before it returns, so a
killed kernel, an OOM or a segfault loses nothing; a background compactor
exports it to TensorBoard event files in log_dir within about a second
(compact_interval). See the README for durability modes and the
sync folder (sync_dir) that protects against losing the whole machine.

Errors raise subclasses of tbwal.Error whose message is the library's own
(operation, path, cause); nothing is dropped silently. A method whose
optional package is missing raises tbwal.MissingDependency naming it (see
doc/python-api.md).

Modules: writer.py (SummaryWriter), _filewriter.py (FileWriter, what
file_writer and _get_file_writer() return), _summary.py (the protobuf
builders), _deps.py (optional packages), _tbwal (the C extension).
"""

from . import _tbwal
from ._tbwal import (Error, InvalidArgument, OutOfMemory, IOError, DiskFull,  # noqa: F401
                     Corrupt, JournalBusy, Panic, ForkError, VersionError, NotFound,
                     Truncated, WriterClosed, LIBRARY_VERSION)
from ._deps import MissingDependency
from ._filewriter import FileWriter
from .writer import SummaryWriter, _close_all_at_exit  # noqa: F401

__all__ = ["SummaryWriter", "FileWriter", "Error", "InvalidArgument", "OutOfMemory", "DiskFull",
           "Corrupt", "JournalBusy", "Panic", "ForkError", "VersionError", "NotFound",
           "Truncated", "WriterClosed", "MissingDependency"]
# tbwal.IOError is deliberately left out of __all__: a star import would
# shadow the builtin name. Use it as tbwal.IOError.

__version__ = LIBRARY_VERSION


# Reading back and recovering (python/tbwal/_read.py).
from ._read import read_scalars, read_scalars_df, recover  # noqa: E402
__all__ += ["read_scalars", "read_scalars_df", "recover"]


# --- frameworks (tbwal.patch, Lightning, Hugging Face, Keras, tf.summary) ---
from .patch import patch, unpatch  # noqa: E402

_FRAMEWORK_MODULES = ("lightning", "hf", "keras", "tf")


def __getattr__(name):
    """tbwal.lightning, tbwal.hf, tbwal.keras and tbwal.tf are imported on first use
    (each imports its framework, which takes seconds)."""
    if name in _FRAMEWORK_MODULES:
        import importlib
        return importlib.import_module("." + name, __name__)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
