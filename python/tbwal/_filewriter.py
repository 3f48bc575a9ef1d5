"""_filewriter.py -- tbwal.FileWriter: torch's FileWriter over a tbwal journal.

torch.utils.tensorboard.writer.FileWriter is what SummaryWriter.file_writer,
all_writers[...] and _get_file_writer() return, and what frameworks call
directly (Lightning, Hugging Face): add_event, add_summary, add_graph,
add_onnx_graph, get_logdir, flush, close, reopen. Here each one commits the
Event to the journal of a tbwal writer (the C library's variable-size
record, _tbwal.Writer.add_event) before it returns; the compactor writes
Event{wall_time, step, <the rest>} to the event files.
"""

import os
import time

from . import _tbwal
from ._deps import need

_raw_add_event = getattr(_tbwal.Writer, "add_event", None)


def _event_pb2():
    need("tensorboard", "tensorboard", "tbwal.FileWriter")
    from tensorboard.compat.proto import event_pb2
    return event_pb2


def _commit(writer, event):
    """Commit one Event proto (wall_time and step already set) through writer."""
    if _raw_add_event is None:
        raise _tbwal.VersionError("add_event: this build of tbwal._tbwal has no variable-size "
                                  "records (rebuild tbwal)")
    if event.WhichOneof("what") == "file_version":
        # The compactor starts every event file with file_version itself, and the
        # library refuses field 3 in a body: a caller's own file_version event
        # (torch writes one for purge_step, which tbwal's purge handles) is a no-op.
        return
    # The record's tag (tag lists, stats, recovery reports; checked by the
    # library like a scalar's): the first Summary.Value's, else the
    # TaggedRunMetadata's, else none (a graph).
    kind = event.WhichOneof("what")
    if kind == "summary" and event.summary.value:
        tag = event.summary.value[0].tag
    elif kind == "tagged_run_metadata":
        tag = event.tagged_run_metadata.tag
    else:
        tag = None
    body = event.__class__()
    body.CopyFrom(event)
    body.ClearField("wall_time")
    body.ClearField("step")
    _raw_add_event(writer, tag, body.SerializeToString(), int(event.step),
                   float(event.wall_time))


class FileWriter:
    """Writes Event protos for one run (log_dir) through a tbwal journal.

    FileWriter(log_dir, max_queue=10, flush_secs=120, filename_suffix="")
    opens a writer of its own (tbwal's SummaryWriter keyword options may
    follow); SummaryWriter's file_writer wraps the SummaryWriter itself.
    max_queue and flush_secs are accepted and ignored: nothing is queued.
    """

    def __init__(self, log_dir, max_queue=10, flush_secs=120, filename_suffix="", *,
                 _writer=None, _opts=None, **options):
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        if _writer is None:
            from .writer import _open_options
            self._opts = _open_options(filename_suffix=filename_suffix, **options)
            _writer = _tbwal.Writer()
            _writer._open(os.fspath(log_dir), **self._opts)
            from .writer import _live, _live_lock
            with _live_lock:
                _live.add(self)      # closed (so exported) at interpreter exit
        else:
            self._opts = _opts
        self._w = _writer
        self._logdir = str(log_dir)

    def get_logdir(self):
        """Return the directory where event files are written."""
        return self._logdir

    def add_event(self, event, step=None, walltime=None):
        """Commit an Event proto (wall_time and step set here, as torch does).

        An Event of another copy of the schema (TensorFlow's, tensorboardX's)
        is accepted too: it is converted through its serialized bytes.
        """
        Event = _event_pb2().Event
        if not isinstance(event, Event):
            event = Event.FromString(event.SerializeToString())
        event.wall_time = time.time() if walltime is None else walltime
        if step is not None:
            event.step = int(step)
        _commit(self._w, event)

    def add_summary(self, summary, global_step=None, walltime=None):
        """Commit a Summary proto wrapped in an Event."""
        from tensorboard.compat.proto.summary_pb2 import Summary
        Event = _event_pb2().Event
        if summary is not None and not isinstance(summary, Summary):  # TF, tensorboardX
            summary = Summary.FromString(summary.SerializeToString())
        self.add_event(Event(summary=summary), global_step, walltime)

    def add_graph(self, graph_profile, walltime=None):
        """Commit a (GraphDef, RunMetadata) pair: the graph and its step stats."""
        event_pb2 = _event_pb2()
        graph, stepstats = graph_profile[0], graph_profile[1]
        self.add_event(event_pb2.Event(graph_def=graph.SerializeToString()), None, walltime)
        trm = event_pb2.TaggedRunMetadata(tag="step1", run_metadata=stepstats.SerializeToString())
        self.add_event(event_pb2.Event(tagged_run_metadata=trm), None, walltime)

    def add_onnx_graph(self, graph, walltime=None):
        """Commit a GraphDef proto."""
        self.add_event(_event_pb2().Event(graph_def=graph.SerializeToString()), None, walltime)

    def flush(self):
        """Make everything committed durable, exported and shipped."""
        self._w._flush()

    def close(self):
        """Flush and close the journal (closing twice does nothing)."""
        self._w._close()

    def reopen(self):
        """Open the journal again after close(); does nothing if it is open."""
        if not self._w.closed:
            return
        reopen = getattr(self._w, "_reopen_journal", None)
        if reopen is not None:
            reopen()
        elif self._opts is not None:
            self._w._open(self._logdir, **self._opts)
        else:
            raise _tbwal.WriterClosed("reopen %s: no options to reopen with" % self._logdir)

    def __repr__(self):
        return "<tbwal.FileWriter log_dir=%r%s>" % (self._logdir,
                                                     " closed" if self._w.closed else "")
