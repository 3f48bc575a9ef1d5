"""tbwal.patch -- make torch's and tensorboardX's SummaryWriter journal-backed
for code that does not change its imports (Lightning, Hugging Face, scripts).

    import tbwal
    tbwal.patch(sync_dir="/content/drive/MyDrive/tbwal")   # before the writers are made
    ...                                                    # unchanged training code
    tbwal.unpatch()                                        # the originals again

patch() replaces the SummaryWriter attribute of torch.utils.tensorboard,
torch.utils.tensorboard.writer, tensorboardX and tensorboardX.writer with
subclasses of tbwal.SummaryWriter that take their tbwal options (sync_dir,
durability, the intervals) from the last patch() call. Modules not imported
yet are patched when they are imported (a sys.meta_path finder), which is
what Lightning and Transformers do: they import SummaryWriter when they make
the writer.

What it cannot change: a name bound before patch() ran, e.g.
``from torch.utils.tensorboard import SummaryWriter`` at the top of a module
imported before patch(). That name still refers to torch's class. Call
patch() first (at the top of the script or notebook), or use
tbwal.SummaryWriter by name.
"""

import importlib
import importlib.abc
import sys
import threading

# The options patch() accepts: every tbwal.SummaryWriter keyword that makes
# sense for all writers of a process (journal_dir is per run, so it is not one).
OPTIONS = ("durability", "durability_interval", "sync_dir", "sync_interval",
           "compact_interval", "scalar_format")

_lock = threading.RLock()
_options = {}          # the options of the last patch() call
_active = False
_saved = []            # (module, attribute, original value), in the order patched
_finder = None

# module name -> names of its submodules whose SummaryWriter is patched too
_TARGETS = {
    "torch.utils.tensorboard": ("torch.utils.tensorboard.writer",),
    "tensorboardX": ("tensorboardX.writer",),
}


def _check_options(options):
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise TypeError("tbwal.patch: unknown option%s %s (accepted: %s)"
                        % ("s" if len(unknown) > 1 else "", ", ".join(unknown), ", ".join(OPTIONS)))
    from .writer import _open_options
    _open_options(**options)  # the writer's own checks, so a bad value fails here, not later


def options():
    """The tbwal options of the last patch() call (a copy); {} when not patched."""
    with _lock:
        return dict(_options) if _active else {}


def _writer_kwargs(kwargs):
    """The patch() options, overridden by what the caller passed explicitly."""
    with _lock:
        merged = dict(_options)
    merged.update(kwargs)
    return merged


def _torch_class():
    import tbwal

    class SummaryWriter(tbwal.SummaryWriter):
        """torch.utils.tensorboard.SummaryWriter, journal-backed by tbwal.patch().

        Same arguments as torch's; tbwal's keyword options default to those
        given to tbwal.patch().
        """

        def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10,
                     flush_secs=120, filename_suffix="", **kwargs):
            super().__init__(log_dir, comment, purge_step, max_queue, flush_secs,
                             filename_suffix, **_writer_kwargs(kwargs))

    SummaryWriter.__module__ = __name__
    SummaryWriter.__qualname__ = "TorchSummaryWriter"
    return SummaryWriter


def _tbx_class(original):
    import tbwal

    class SummaryWriter(tbwal.SummaryWriter):
        """tensorboardX.SummaryWriter, journal-backed by tbwal.patch().

        tensorboardX's arguments: logdir (or log_dir), comment, purge_step,
        max_queue, flush_secs, filename_suffix. write_to_disk=False makes
        tensorboardX's own writer (it writes nothing). comet_config is
        accepted and ignored.
        """

        def __new__(cls, *args, **kwargs):
            if kwargs.get("write_to_disk", True) is False or (len(args) > 6 and args[6] is False):
                return original(*args, **kwargs)
            return super().__new__(cls)

        def __init__(self, logdir=None, comment="", purge_step=None, max_queue=10,
                     flush_secs=120, filename_suffix="", write_to_disk=True, log_dir=None,
                     comet_config=None, **kwargs):
            super().__init__(log_dir if log_dir is not None else logdir, comment, purge_step,
                             max_queue, flush_secs, filename_suffix, **_writer_kwargs(kwargs))
            self.logdir = self.log_dir

    SummaryWriter.__module__ = __name__
    SummaryWriter.__qualname__ = "TensorboardXSummaryWriter"
    return SummaryWriter


_classes = {}   # target module name -> the patched class (made once, so identity is stable)


def _replacement(modname, original):
    cls = _classes.get(modname)
    if cls is None:
        cls = _torch_class() if modname == "torch.utils.tensorboard" else _tbx_class(original)
        _classes[modname] = cls
    return cls


def _apply(modname):
    """Patch the already imported module modname and its writer submodule."""
    mod = sys.modules.get(modname)
    if mod is None:
        return
    mods = [mod] + [sys.modules[s] for s in _TARGETS[modname] if s in sys.modules]
    original = getattr(mod, "SummaryWriter", None)
    if original is None:
        return
    cls = _replacement(modname, original)
    for m in mods:
        cur = m.__dict__.get("SummaryWriter")
        if cur is None or cur is cls:
            continue
        _saved.append((m, "SummaryWriter", cur))
        m.SummaryWriter = cls


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader, then patches the module it made."""

    def __init__(self, loader, modname):
        self._loader = loader
        self._modname = modname

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        spec = module.__spec__
        spec.loader = self._loader
        module.__loader__ = self._loader
        self._loader.exec_module(module)
        with _lock:
            if _active:
                _apply(self._modname)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the target modules through the rest of sys.meta_path and wraps their loader."""

    def __init__(self):
        self._busy = threading.local()

    def find_spec(self, fullname, path, target=None):
        if fullname not in _TARGETS or getattr(self._busy, "on", False):
            return None
        self._busy.on = True
        try:
            for f in sys.meta_path:
                if f is self or not hasattr(f, "find_spec"):
                    continue
                spec = f.find_spec(fullname, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            self._busy.on = False
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _PatchingLoader(spec.loader, fullname)
        return spec


def patch(**options):
    """Make torch's and tensorboardX's SummaryWriter journal-backed.

    options: tbwal.SummaryWriter's keyword options for every writer made from
    now on: durability, durability_interval, sync_dir, sync_interval,
    compact_interval, scalar_format. A keyword passed to a writer itself
    still wins. Calling patch() again replaces the options (for writers made
    afterwards) and patches nothing twice.
    """
    global _active, _finder
    _check_options(options)
    with _lock:
        _options.clear()
        _options.update(options)
        _active = True
        for modname in _TARGETS:
            _apply(modname)
        if _finder is None:
            _finder = _Finder()
            sys.meta_path.insert(0, _finder)


def unpatch():
    """Put torch's and tensorboardX's own SummaryWriter back, exactly.

    Writers made while patched stay tbwal writers. Does nothing when not patched.
    """
    global _active, _finder
    with _lock:
        if _finder is not None:
            try:
                sys.meta_path.remove(_finder)
            except ValueError:
                pass
            _finder = None
        while _saved:
            m, attr, orig = _saved.pop()
            setattr(m, attr, orig)
        _options.clear()
        _active = False


def is_patched():
    """True between patch() and unpatch()."""
    return _active
