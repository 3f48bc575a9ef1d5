"""writer.py -- tbwal.SummaryWriter: torch.utils.tensorboard.SummaryWriter over a journal.

Every public method and attribute of torch's SummaryWriter (torch 2.13), with
its signatures, defaults and semantics, plus tensorboardX's logdir= keyword.
add_scalar is the C fast path (_tbwal.Writer.add_scalar, a fixed-size
record). Every other method builds the same protobuf as torch (_summary.py)
and commits it through FileWriter.add_event (_filewriter.py), the C
library's variable-size record, before it returns. add_hparams writes its
sub-run with a tbwal writer of the same options; add_embedding writes the
projector's files under log_dir, atomically (they are files, not events:
see doc/python-api.md).
"""

import atexit
import operator
import os
import socket
import tempfile
import threading
import time
import weakref
from datetime import datetime

from . import _tbwal
from ._deps import need
from ._filewriter import FileWriter
from ._tbwal import Error, InvalidArgument

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


def _index(name, v):
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError("%s must be an int, not %s" % (name, type(v).__name__)) from None


def _open_options(durability="interval", sync_dir=None, sync_interval=5.0, compact_interval=1.0,
                  durability_interval=1.0, scalar_format="simple", journal_dir=None,
                  filename_suffix=""):
    """tbwal's keyword options, checked, as the keyword arguments of _tbwal.Writer._open."""
    if durability not in _DURABILITY:
        raise InvalidArgument("SummaryWriter: durability must be one of %s, got %r"
                              % (", ".join(map(repr, _DURABILITY)), durability))
    if scalar_format not in _SCALAR_FORMAT:
        raise InvalidArgument("SummaryWriter: scalar_format must be 'simple' or 'tensor', got %r"
                              % (scalar_format,))
    if filename_suffix is None:
        filename_suffix = ""
    if not isinstance(filename_suffix, str):
        raise TypeError("filename_suffix must be str, not %s" % type(filename_suffix).__name__)
    return dict(
        durability=_DURABILITY[durability],
        durability_interval_ms=_ms("durability_interval", durability_interval),
        compact_interval_ms=_ms("compact_interval", compact_interval),
        scalar_format=_SCALAR_FORMAT[scalar_format],
        sync_dir=None if sync_dir is None else os.fspath(sync_dir),
        sync_interval_ms=_ms("sync_interval", sync_interval),
        filename_suffix=filename_suffix,
        journal_dir=None if journal_dir is None else os.fspath(journal_dir),
    )


def _summary(what):
    """The builders module, or MissingDependency naming what the call needs."""
    need("numpy", "numpy", what)
    need("tensorboard", "tensorboard", what)
    from . import _summary as S
    return S


def _write_atomic(path, data):
    """Write a file so that readers see the old or the new content, never a part."""
    d, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix="." + name + ".", suffix=".tmp", dir=d or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dfd = os.open(d or ".", os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


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
            print("tbwal: closing %s at exit failed: %s" % (w.get_logdir(), e), file=sys.stderr)


def _default_bins():
    # torch's default histogram buckets (TensorFlow's): +-1e-12 * 1.1^k up to 1e20, and 0.
    v = 1e-12
    buckets = []
    neg_buckets = []
    while v < 1e20:
        buckets.append(v)
        neg_buckets.append(-v)
        v *= 1.1
    return neg_buckets[::-1] + [0] + buckets


class SummaryWriter(_tbwal.Writer):
    """Writes TensorBoard event files in log_dir, every call through a journal.

    torch.utils.tensorboard.SummaryWriter's arguments, with its meanings:

    log_dir: directory TensorBoard reads (str or path-like). Default, like torch:
        runs/<Mon DD_HH-MM-SS>_<hostname><comment>.
    comment: suffix of the default log_dir; ignored when log_dir is given.
    purge_step: hide from TensorBoard the steps >= purge_step left by an earlier,
        crashed attempt that is resumed at purge_step (same log_dir).
    max_queue, flush_secs: accepted and ignored. They are not needed: every
        call is committed before it returns and exported within
        compact_interval seconds.
    filename_suffix: appended to the event file names.

    Keyword-only:
    logdir: tensorboardX's name for log_dir (give one or the other).
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
    docstring). The other add_* methods need the tensorboard and numpy
    packages (and Pillow for images, matplotlib for figures, moviepy for
    video, onnx for ONNX graphs, torch for add_graph); a missing one raises
    tbwal.MissingDependency naming it. As with torch, a closed writer
    reopens when it is used again.
    """

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10,
                 flush_secs=120, filename_suffix="", *, logdir=None, durability="interval",
                 sync_dir=None, sync_interval=5.0, compact_interval=1.0,
                 durability_interval=1.0, scalar_format="simple", journal_dir=None):
        if logdir is not None:
            if log_dir is not None:
                raise TypeError("SummaryWriter: give log_dir or logdir, not both")
            log_dir = logdir
        if not log_dir:
            current_time = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", current_time + "_" + socket.gethostname() + comment)
        self._opts = _open_options(durability=durability, sync_dir=sync_dir,
                                   sync_interval=sync_interval,
                                   compact_interval=compact_interval,
                                   durability_interval=durability_interval,
                                   scalar_format=scalar_format, journal_dir=journal_dir,
                                   filename_suffix=filename_suffix)
        # What a sub-run of add_hparams is opened with (torch: SummaryWriter(log_dir=...)).
        self._subrun_kwargs = dict(durability=durability, sync_dir=sync_dir,
                                   sync_interval=sync_interval,
                                   compact_interval=compact_interval,
                                   durability_interval=durability_interval,
                                   scalar_format=scalar_format)
        self._journal_dir = journal_dir
        if purge_step is not None:
            purge_step = _index("purge_step", purge_step)
        self.log_dir = log_dir
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = self._opts["filename_suffix"]
        self._lock = threading.RLock()
        self.file_writer = self.all_writers = None
        self._open(os.fspath(log_dir), purge_step=purge_step, **self._opts)
        self.purge_step = None  # like torch: a reopen after close() does not purge again
        with _live_lock:
            _live.add(self)
        self._get_file_writer()
        self.default_bins = _default_bins()

    # ---- the writers behind the calls ---------------------------------------

    def _reopen_journal(self):
        """Open this writer's journal again if it is closed (torch reopens on use)."""
        self._check_fork("reopen")
        with self._lock:
            if self.closed:
                self._open(os.fspath(self.log_dir), **self._opts)
                with _live_lock:
                    _live.add(self)

    def _reopen(self):
        """Called by add_scalar (C) on a closed writer."""
        self._get_file_writer()

    def _get_file_writer(self):
        """Return the default FileWriter (this run's). Reopens a closed writer, like torch."""
        with self._lock:
            if self.closed:
                self._reopen_journal()
            if self.all_writers is None or self.file_writer is None:
                self.file_writer = FileWriter(self.log_dir, self.max_queue, self.flush_secs,
                                              self.filename_suffix, _writer=self)
                self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
            return self.file_writer

    def get_logdir(self):
        """Return the directory where event files are written."""
        return self.log_dir

    def _log_summary(self, summary, global_step=None, walltime=None):
        """Commit one Summary through this run's FileWriter (reopened if closed)."""
        self._get_file_writer().add_summary(summary, global_step, walltime)

    # ---- scalars ------------------------------------------------------------

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Log several scalars under one chart, torch's way: one sub-run per key.

        Each key k goes to the run log_dir/<main_tag with '/' replaced by '_'>_<k>,
        with tag main_tag, all with the same walltime. These are scalars: the
        C fast path, one journal per sub-run.
        """
        if not isinstance(main_tag, str):
            raise TypeError("main_tag must be str, not %s" % type(main_tag).__name__)
        self._check_fork("add_scalars")
        walltime = time.time() if walltime is None else walltime
        # Convert everything first: a bad value fails the call before any key is logged.
        items = []
        for key, value in tag_scalar_dict.items():
            if not isinstance(key, str):
                raise TypeError("add_scalars: keys of tag_scalar_dict must be str, not %s"
                                % type(key).__name__)
            items.append((key, _tbwal._as_float(value)))
        fw_logdir = self._get_file_writer().get_logdir()
        base = fw_logdir + "/" + main_tag.replace("/", "_") + "_"
        for key, value in items:
            fw_tag = base + key
            with self._lock:
                fw = self.all_writers.get(fw_tag)
                if fw is None:
                    child = _tbwal.Writer()
                    child._open(fw_tag, **self._opts)
                    fw = FileWriter(fw_tag, self.max_queue, self.flush_secs,
                                    self.filename_suffix, _writer=child, _opts=self._opts)
                    self.all_writers[fw_tag] = fw
                elif fw._w.closed:
                    fw.reopen()
            fw._w.add_scalar(main_tag, value, global_step, walltime)

    def log(self, metrics, step=None, walltime=None):
        """Log every (tag, value) of the mapping metrics at one step, in one commit.

        tbwal's own (torch has no such method): the scalars of a training step
        are committed to the journal together (tbw_add_scalars), far cheaper
        per scalar than one add_scalar each, and all or nothing: a bad tag or
        value raises and writes none of them. Values convert as add_scalar's.
        """
        if self.closed:
            self._reopen()
        self._log(metrics, step, walltime)

    def add_tensor(self, tag, tensor, global_step=None, walltime=None):
        """Log a tensor (plugin "tensor"), its dtype and shape kept."""
        S = _summary("add_tensor")
        self._log_summary(S.tensor_proto(tag, tensor), global_step, walltime)

    # ---- histograms ---------------------------------------------------------

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None,
                      max_bins=None):
        """Log a histogram of values (bins: 'tensorflow' = default_bins, or numpy.histogram's)."""
        S = _summary("add_histogram")
        if isinstance(bins, str) and bins == "tensorflow":
            bins = self.default_bins
        self._log_summary(S.histogram(tag, values, bins, max_bins=max_bins),
                          global_step, walltime)

    def add_histogram_raw(self, tag, min, max, num, sum, sum_squares, bucket_limits,
                          bucket_counts, global_step=None, walltime=None):
        """Log a histogram from its statistics and buckets."""
        S = _summary("add_histogram_raw")
        if len(bucket_limits) != len(bucket_counts):
            raise ValueError("len(bucket_limits) != len(bucket_counts), see the document.")
        self._log_summary(S.histogram_raw(tag, min, max, num, sum, sum_squares, bucket_limits,
                                          bucket_counts), global_step, walltime)

    # ---- images, figures, video, audio --------------------------------------

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        """Log an image (PNG; needs Pillow). dataformats: CHW, HWC, HW, WH, ..."""
        S = _summary("add_image")
        self._log_summary(S.image(tag, img_tensor, dataformats=dataformats),
                          global_step, walltime)

    def add_images(self, tag, img_tensor, global_step=None, walltime=None, dataformats="NCHW"):
        """Log a batch of images tiled in one grid (PNG; needs Pillow). NCHW, NHWC, ..."""
        S = _summary("add_images")
        self._log_summary(S.image(tag, img_tensor, dataformats=dataformats),
                          global_step, walltime)

    def add_image_with_boxes(self, tag, img_tensor, box_tensor, global_step=None, walltime=None,
                             rescale=1, dataformats="CHW", labels=None):
        """Log an image with boxes [x1, y1, x2, y2] drawn on it, optionally labelled."""
        S = _summary("add_image_with_boxes")
        if labels is not None:
            if isinstance(labels, str):
                labels = [labels]
            if len(labels) != S.make_np(box_tensor).shape[0]:
                labels = None
        self._log_summary(S.image_boxes(tag, img_tensor, box_tensor, rescale=rescale,
                                        dataformats=dataformats, labels=labels),
                          global_step, walltime)

    def add_figure(self, tag, figure, global_step=None, close=True, walltime=None):
        """Render a matplotlib figure (or a list of them) and log it as an image."""
        S = _summary("add_figure")
        if isinstance(figure, list):
            self.add_image(tag, S.figure_to_image(figure, close), global_step, walltime,
                           dataformats="NCHW")
        else:
            self.add_image(tag, S.figure_to_image(figure, close), global_step, walltime,
                           dataformats="CHW")

    def add_video(self, tag, vid_tensor, global_step=None, fps=4, walltime=None):
        """Log a video (N, T, C, H, W) as an animated GIF (needs moviepy)."""
        S = _summary("add_video")
        self._log_summary(S.video(tag, vid_tensor, fps), global_step, walltime)

    def add_audio(self, tag, snd_tensor, global_step=None, sample_rate=44100, walltime=None):
        """Log a mono clip (values in [-1, 1]) as 16-bit WAV."""
        S = _summary("add_audio")
        self._log_summary(S.audio(tag, snd_tensor, sample_rate=sample_rate),
                          global_step, walltime)

    # ---- text, hparams, layouts, curves, meshes -----------------------------

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        """Log text (markdown) under tag + '/text_summary'."""
        S = _summary("add_text")
        self._log_summary(S.text(tag, text_string), global_step, walltime)

    def add_hparams(self, hparam_dict, metric_dict, hparam_domain_discrete=None, run_name=None,
                    global_step=None):
        """Log hyperparameters and metrics in a sub-run log_dir/<run_name or time.time()>.

        The sub-run is a tbwal writer of its own with this writer's durability,
        sync and compaction options (its journal in the sub-run's directory).
        """
        S = _summary("add_hparams")
        if type(hparam_dict) is not dict or type(metric_dict) is not dict:
            raise TypeError("hparam_dict and metric_dict should be dictionary.")
        exp, ssi, sei = S.hparams(hparam_dict, metric_dict, hparam_domain_discrete)
        if not run_name:
            run_name = str(time.time())
        logdir = os.path.join(self._get_file_writer().get_logdir(), run_name)
        kwargs = dict(self._subrun_kwargs)
        if self._journal_dir is not None:
            kwargs["journal_dir"] = os.path.join(os.fspath(self._journal_dir), run_name)
        with SummaryWriter(log_dir=logdir, **kwargs) as w_hp:
            w_hp.file_writer.add_summary(exp, global_step)
            w_hp.file_writer.add_summary(ssi, global_step)
            w_hp.file_writer.add_summary(sei, global_step)
            for k, v in metric_dict.items():
                w_hp.add_scalar(k, v, global_step)

    def add_custom_scalars_multilinechart(self, tags, category="default", title="untitled"):
        """A custom-scalars layout with one multiline chart of tags."""
        S = _summary("add_custom_scalars_multilinechart")
        layout = {category: {title: ["Multiline", tags]}}
        self._log_summary(S.custom_scalars(layout))

    def add_custom_scalars_marginchart(self, tags, category="default", title="untitled"):
        """A custom-scalars layout with one margin chart of 3 tags (value, lower, upper)."""
        S = _summary("add_custom_scalars_marginchart")
        if len(tags) != 3:
            raise AssertionError("Expected 3 tags, got %d." % len(tags))
        layout = {category: {title: ["Margin", tags]}}
        self._log_summary(S.custom_scalars(layout))

    def add_custom_scalars(self, layout):
        """A custom-scalars layout: {category: {chart: ['Multiline' or 'Margin', tags]}}."""
        S = _summary("add_custom_scalars")
        self._log_summary(S.custom_scalars(layout))

    def add_pr_curve(self, tag, labels, predictions, global_step=None, num_thresholds=127,
                     weights=None, walltime=None):
        """Log a precision-recall curve computed from labels and predictions."""
        S = _summary("add_pr_curve")
        labels, predictions = S.make_np(labels), S.make_np(predictions)
        self._log_summary(S.pr_curve(tag, labels, predictions, num_thresholds, weights),
                          global_step, walltime)

    def add_pr_curve_raw(self, tag, true_positive_counts, false_positive_counts,
                         true_negative_counts, false_negative_counts, precision, recall,
                         global_step=None, num_thresholds=127, weights=None, walltime=None):
        """Log a precision-recall curve from its counts."""
        S = _summary("add_pr_curve_raw")
        self._log_summary(S.pr_curve_raw(tag, true_positive_counts, false_positive_counts,
                                         true_negative_counts, false_negative_counts,
                                         precision, recall, num_thresholds, weights),
                          global_step, walltime)

    def add_mesh(self, tag, vertices, colors=None, faces=None, config_dict=None,
                 global_step=None, walltime=None):
        """Log a mesh or point cloud (vertices, colors, faces: B x N x 3)."""
        S = _summary("add_mesh")
        self._log_summary(S.mesh(tag, vertices, colors, faces, config_dict),
                          global_step, walltime)

    # ---- graphs -------------------------------------------------------------

    def add_onnx_graph(self, prototxt):
        """Log the graph of an ONNX model file (needs onnx)."""
        S = _summary("add_onnx_graph")
        self._get_file_writer().add_onnx_graph(S.onnx_graph(prototxt))

    def add_graph(self, model, input_to_model=None, verbose=False, use_strict_trace=True):
        """Log the graph of a torch.nn.Module, traced by torch.jit.trace (needs torch)."""
        S = _summary("add_graph")
        self._get_file_writer().add_graph(S.torch_graph(model, input_to_model, verbose,
                                                        use_strict_trace))

    # ---- embeddings ---------------------------------------------------------

    @staticmethod
    def _encode(rawstr):
        retval = rawstr
        retval = retval.replace("%", "%%%02x" % ord("%"))
        retval = retval.replace("/", "%%%02x" % ord("/"))
        retval = retval.replace("\\", "%%%02x" % ord("\\"))
        return retval

    def add_embedding(self, mat, metadata=None, label_img=None, global_step=None, tag="default",
                      metadata_header=None):
        """Write projector data (tensors.tsv, metadata.tsv, sprite.png, projector_config.pbtxt).

        Files under log_dir/<global_step, 5 digits>/<tag>, as torch writes them,
        each replaced atomically and fsynced before the call returns. They are
        not events: they are not in the journal and not shipped to sync_dir.
        """
        S = _summary("add_embedding")
        from google.protobuf import text_format
        from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig
        mat = S.make_np(mat)
        if global_step is None:
            global_step = 0
        subdir = "%s/%s" % (str(global_step).zfill(5), self._encode(tag))
        logdir = self._get_file_writer().get_logdir()
        save_path = os.path.join(logdir, subdir)
        files, info = S.embedding_files(mat, metadata, label_img, subdir, global_step, tag,
                                        metadata_header)
        if os.path.exists(save_path):
            if os.path.isdir(save_path):
                print("warning: Embedding dir exists, did you set global_step for add_embedding()?")
            else:
                raise NotADirectoryError("Path: `%s` exists, but is a file. Cannot proceed."
                                         % save_path)
        else:
            os.makedirs(save_path)
        for name in ("metadata.tsv", "sprite.png", "tensors.tsv"):
            if name in files:
                _write_atomic(os.path.join(save_path, name), files[name])
        with self._lock:
            if not hasattr(self, "_projector_config"):
                self._projector_config = ProjectorConfig()
            self._projector_config.embeddings.extend([info])
            config_pbtxt = text_format.MessageToString(self._projector_config)
            _write_atomic(os.path.join(logdir, "projector_config.pbtxt"),
                          config_pbtxt.encode("utf-8"))

    # ---- lifetime -----------------------------------------------------------

    def flush(self):
        """Make everything logged so far durable, exported and shipped; GIL released."""
        self._check_fork("flush")
        with self._lock:
            if self.all_writers is None:
                return
            writers = list(self.all_writers.values())
        for fw in writers:
            fw.flush()

    def close(self):
        """Flush and close this writer and its add_scalars sub-runs.

        Closing twice does nothing. In a child process after fork() the
        inherited writer is only detached: the parent owns the journal.
        """
        with self._lock:
            writers = list(self.all_writers.values()) if self.all_writers is not None else []
            self.file_writer = self.all_writers = None
        first = None
        for w in [fw._w for fw in writers if fw._w is not self] + [self]:
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
        return "<tbwal.SummaryWriter log_dir=%r%s>" % (self.log_dir,
                                                        " closed" if self.closed else "")
