"""tbwal.tf -- tf.summary code on a tbwal journal (TensorFlow 2).

    import tbwal.tf
    writer = tbwal.tf.create_file_writer("./logs")   # was tf.summary.create_file_writer
    with writer.as_default():
        tf.summary.scalar("loss", loss, step=step)    # eagerly or inside tf.function
    writer.flush()

How: TF's summary ops write through a C++ writer resource that tbwal cannot
be. tbwal's writer is a tf.summary.SummaryWriter (so as_default(),
set_as_default(), tf.summary.flush() and record_if() work as usual), and
importing this module wraps tf.summary.write, tf.summary.experimental.write_raw_pb
and tf.summary.graph (in summary_ops_v2 and every tf API module that exports
them: tf.summary, tf.compat.v2.summary, ...). When the default writer is a
tbwal one the wrapper hands the value to tbwal -- directly when executing
eagerly, through tf.py_function inside a tf.function -- and otherwise calls
TF's own function unchanged, so TF's own writers are untouched.
tf.summary.scalar, histogram, image, text and audio all end in
tf.summary.write.

Scalars (plugin "scalars") take tbwal's scalar path. Other kinds (histogram,
image, text, audio, the Keras model graph, tf.summary.graph) are Summary or
Event protos committed through the writer's variable-size record
(tbwal.FileWriter.add_summary / add_event), as TF would write them.

Limits (tested in tests/py/frameworks/test_keras_tf.py):
- inside a tf.function the write is a py_function op, Python code rather than
  a graph kernel: XLA cannot compile it (tf.function(jit_compile=True) fails
  at the call), and a SavedModel holding it saves but fails when called in
  another process ("Could not find callback"): write summaries outside the
  functions you export or compile;
- a writer's as_default() does not flush on exit as TF's does: everything is
  committed when the summary op runs and exported within compact_interval;
  writer.flush() (or close()) does tbwal's full flush;
- create_file_writer() is Python: call it outside tf.function.
"""

import functools
import sys
import threading
import time
import warnings

import numpy as np
import tensorflow as tf
from tensorflow.python.eager import context
from tensorflow.python.framework import constant_op, ops, smart_cond
from tensorflow.python.ops import array_ops
from tensorflow.python.ops import summary_ops_v2 as _sov2

import tbwal
from .patch import options as _patch_options

__all__ = ["create_file_writer", "SummaryWriter"]

_ORIG = {"write": _sov2.write, "write_raw_pb": _sov2.write_raw_pb, "graph": _sov2.graph}
_warned = set()
_warn_lock = threading.Lock()


def _warn_once(key, msg):
    with _warn_lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(msg, RuntimeWarning, stacklevel=3)


class _DefaultContext:
    """writer.as_default(step): like TF's, without the flush on exit."""

    def __init__(self, writer, step=None):
        self._writer = writer
        self._step = step
        self._old_writer = None
        self._old_step = None

    def __enter__(self):
        self._old_writer = _sov2._summary_state.writer
        _sov2._summary_state.writer = self._writer
        if self._step is not None:
            self._old_step = _sov2._summary_state.step
            _sov2._summary_state.step = self._step
        return self._writer

    def __exit__(self, *exc):
        _sov2._summary_state.writer = self._old_writer
        if self._step is not None:
            _sov2._summary_state.step = self._old_step
        return False


class SummaryWriter(_sov2.SummaryWriter):
    """A tf.summary.SummaryWriter whose summaries go to a tbwal journal.

    Made by create_file_writer(). `tbwal_writer` is the tbwal.SummaryWriter
    underneath (log_dir, flush(), close()).
    """

    def __init__(self, logdir, filename_suffix=None, **tbwal_options):
        opts = _patch_options()
        opts.update(tbwal_options)
        self.tbwal_writer = tbwal.SummaryWriter(str(logdir), filename_suffix=filename_suffix or "",
                                                **opts)
        self.logdir = str(logdir)

    def as_default(self, step=None):
        return _DefaultContext(self, step)

    def init(self):
        """Nothing to initialize: the journal is open."""
        return None

    def flush(self):
        """Commit, export and ship everything written so far (tbwal's flush)."""
        if context.executing_eagerly():
            self.tbwal_writer.flush()
            return None
        return tf.py_function(self._flush_py, [], Tout=tf.bool)

    def _flush_py(self):
        self.tbwal_writer.flush()
        return True

    def close(self):
        """Flush and close the tbwal writer (it reopens if written to again)."""
        self.tbwal_writer.close()

    # -- the Python side of a summary op ------------------------------------
    def _write_value(self, tag, metadata, step, value):
        """One tf.summary.write: value is a numpy array (bytes for strings)."""
        meta = _summary_pb2().SummaryMetadata.FromString(metadata) if metadata else None
        plugin = meta.plugin_data.plugin_name if meta is not None else ""
        arr = np.asarray(value)
        if plugin == "scalars" and arr.ndim == 0 and arr.dtype.kind in "fiub":
            self.tbwal_writer.add_scalar(tag, float(arr), step)
            return True
        summ = _summary_pb2().Summary()
        v = summ.value.add(tag=tag)
        if meta is not None:
            v.metadata.CopyFrom(meta)
        v.tensor.CopyFrom(_make_tensor_proto(arr))
        return self._add_summary(summ, step, plugin or "tensor")

    def _write_raw(self, step, blobs):
        """One write_raw_pb: blobs are serialized Summary protos."""
        pb = _summary_pb2()
        for blob in np.asarray(blobs, dtype=object).reshape(-1):
            summ = pb.Summary.FromString(bytes(blob))
            rest = pb.Summary()
            for v in summ.value:
                if v.WhichOneof("value") == "simple_value":
                    self.tbwal_writer.add_scalar(v.tag, v.simple_value, step)
                else:
                    rest.value.add().CopyFrom(v)
            if rest.value:
                self._add_summary(rest, step, "raw")
        return True

    def _add_summary(self, summ, step, kind):
        """A non-scalar Summary, through the writer's variable-size record."""
        try:
            self.tbwal_writer._get_file_writer().add_summary(summ, step, time.time())
        except tbwal.VersionError as e:  # a build without variable-size records
            _warn_once(kind, "tbwal.tf: %s summaries are not written: %s" % (kind, e))
            return False
        return True

    def _write_graph(self, graph_def_bytes):
        from tensorboard.compat.proto import event_pb2
        try:
            self.tbwal_writer._get_file_writer().add_event(event_pb2.Event(graph_def=graph_def_bytes),
                                                           0, time.time())
        except tbwal.VersionError as e:
            _warn_once("graph", "tbwal.tf: graphs are not written: %s" % (e,))
            return False
        return True

    def __repr__(self):
        return "<tbwal.tf.SummaryWriter logdir=%r>" % (self.logdir,)


@functools.lru_cache(maxsize=None)
def _summary_pb2():
    from tensorboard.compat.proto import summary_pb2
    return summary_pb2


def _make_tensor_proto(arr):
    from tensorboard.util import tensor_util
    return tensor_util.make_tensor_proto(arr)


def create_file_writer(logdir, max_queue=None, flush_millis=None, filename_suffix=None,
                       name=None, experimental_trackable=False, experimental_mesh=None,
                       **tbwal_options):
    """tf.summary.create_file_writer's arguments, a tbwal journal underneath.

    max_queue, flush_millis, name, experimental_trackable and
    experimental_mesh are accepted and not needed (every summary is committed
    when its op runs). tbwal's keyword options (sync_dir, durability,
    compact_interval, ...) default to those of tbwal.patch().
    """
    if ops.inside_function():
        raise RuntimeError("tbwal.tf.create_file_writer: call it outside tf.function")
    return SummaryWriter(logdir, filename_suffix=filename_suffix, **tbwal_options)


def _ours():
    w = _sov2._summary_state.writer
    return w if isinstance(w, SummaryWriter) else None


def _step_value(step):
    """The step as an int (eager) -- a Variable, a tensor or an int."""
    return int(np.asarray(step.numpy() if hasattr(step, "numpy") else step))


def write(tag, tensor, step=None, metadata=None, name=None):
    writer = _ours()
    if writer is None:
        return _ORIG["write"](tag, tensor, step=step, metadata=metadata, name=name)
    if step is not None:
        _sov2._choose_step(step)
    if step is None:
        step = _sov2.get_step()
    if metadata is None:
        serialized = b""
    elif hasattr(metadata, "SerializeToString"):
        serialized = metadata.SerializeToString()
    else:
        serialized = bytes(metadata)

    def no_step():
        return ValueError("No step set. Please specify one either through the `step` argument "
                          "or through tf.summary.experimental.set_step()")

    if context.executing_eagerly():
        if not bool(_sov2.should_record_summaries()):
            return constant_op.constant(False)
        if step is None:
            raise no_step()
        value = tensor() if callable(tensor) else tensor
        value = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
        return constant_op.constant(bool(writer._write_value(tag, serialized, _step_value(step), value)))

    with ops.name_scope(name, "write_summary"):
        def record():
            if step is None:
                raise no_step()
            with ops.device("cpu:0"):
                value = tensor() if callable(tensor) else array_ops.identity(tensor)
                s = tf.cast(step, tf.int64)
                fn = lambda s, v: writer._write_value(tag, serialized, int(s.numpy()), v.numpy())  # noqa: E731
                return tf.py_function(fn, [s, value], Tout=tf.bool)

        return smart_cond.smart_cond(_sov2.should_record_summaries(), record, _sov2._nothing,
                                     name="summary_cond")


def write_raw_pb(tensor, step=None, name=None):
    writer = _ours()
    if writer is None:
        return _ORIG["write_raw_pb"](tensor, step=step, name=name)
    if step is not None:
        _sov2._choose_step(step)
    if step is None:
        step = _sov2.get_step()
        if step is None:
            raise ValueError("No step set. Please specify one either through the `step` argument "
                             "or through tf.summary.experimental.set_step()")
    if context.executing_eagerly():
        if not bool(_sov2.should_record_summaries()):
            return constant_op.constant(False)
        blobs = tensor.numpy() if hasattr(tensor, "numpy") else np.asarray(tensor, dtype=object)
        return constant_op.constant(writer._write_raw(_step_value(step), blobs))
    with ops.name_scope(name, "write_raw_pb"):
        def record():
            with ops.device("cpu:0"):
                s = tf.cast(step, tf.int64)
                fn = lambda s, t: writer._write_raw(int(s.numpy()), t.numpy())  # noqa: E731
                return tf.py_function(fn, [s, array_ops.identity(tensor)], Tout=tf.bool)

        return smart_cond.smart_cond(_sov2.should_record_summaries(), record, _sov2._nothing,
                                     name="summary_cond")


def graph(graph_data):
    writer = _ours()
    if writer is None:
        return _ORIG["graph"](graph_data)
    if not context.executing_eagerly():
        raise ValueError("graph() cannot be invoked inside a graph context.")
    if not bool(_sov2.should_record_summaries()):
        return constant_op.constant(False)
    from tensorflow.core.framework import graph_pb2
    if isinstance(graph_data, (ops.Graph, graph_pb2.GraphDef)):
        data = _sov2._serialize_graph(graph_data)
    else:
        raise ValueError("Argument 'graph_data' is not tf.Graph or tf.compat.v1.GraphDef. "
                         "Received graph_data=%r of type %s." % (graph_data, type(graph_data).__name__))
    return constant_op.constant(writer._write_graph(data))


_WRAPPERS = {"write": write, "write_raw_pb": write_raw_pb, "graph": graph}
for _n, _f in _WRAPPERS.items():
    functools.update_wrapper(_f, _ORIG[_n], updated=())
    _f.__wrapped_by_tbwal__ = True


def _install():
    """Put the wrappers wherever TF exports the originals (idempotent)."""
    # Touch the lazily made API modules first, so they exist to be patched.
    tf.summary.experimental.write_raw_pb  # noqa: B018
    tf.compat.v2.summary.experimental.write_raw_pb  # noqa: B018
    for modname, mod in list(sys.modules.items()):
        if mod is None or not (modname.startswith("tensorflow") or modname.startswith("tensorboard")):
            continue
        d = getattr(mod, "__dict__", None)
        if not d:
            continue
        for n, orig in _ORIG.items():
            if d.get(n) is orig:
                setattr(mod, n, _WRAPPERS[n])


_install()
