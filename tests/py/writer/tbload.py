"""tbload.py -- read a log directory with TensorBoard's own loader, keep everything.

load(root) returns what TensorBoard's data layer (plugin_event_multiplexer,
the loader behind its Python server, with every size guidance 0 = keep all)
sees under root, as plain Python data that compares with ==:

    {run: {"tensors": {tag: [(step, plugin_name, plugin_content, dtype,
                              shape, tensor_bytes, wall_time), ...]},
           "graph": GraphDef bytes or None,
           "run_metadata": {tag: RunMetadata bytes}}}

Tensor bytes are the TensorProto serialized deterministically: histograms,
images, audio and simple_value scalars arrive here already converted to
tensors by TensorBoard (data_compat), so this compares payloads exactly.
"""
import logging

from tensorboard.backend.event_processing import plugin_event_accumulator as pea
from tensorboard.backend.event_processing import plugin_event_multiplexer as pem

logging.getLogger("tensorboard").setLevel(logging.ERROR)

KEEP_ALL = {pea.TENSORS: 0, pea.GRAPH: 0, pea.META_GRAPH: 0, pea.RUN_METADATA: 0}


def _content(md):
    """Plugin content bytes, hparams' re-serialized deterministically (its map of
    hparams has no fixed order on the wire, in torch's writer as in any)."""
    c = md.plugin_data.content
    if md.plugin_data.plugin_name == "hparams":
        from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData
        c = HParamsPluginData.FromString(c).SerializeToString(deterministic=True)
    return c


def load(root, with_wall_time=False):
    mux = pem.EventMultiplexer(size_guidance=KEEP_ALL, tensor_size_guidance={})
    mux.AddRunsFromDirectory(str(root))
    mux.Reload()
    out = {}
    for run in sorted(mux.Runs()):
        acc = mux.GetAccumulator(run)
        tags = acc.Tags()
        tensors = {}
        for tag in tags[pea.TENSORS]:
            md = acc.SummaryMetadata(tag)
            tensors[tag] = [
                (e.step, md.plugin_data.plugin_name, _content(md),
                 e.tensor_proto.dtype, tuple(d.size for d in e.tensor_proto.tensor_shape.dim),
                 e.tensor_proto.SerializeToString(deterministic=True),
                 e.wall_time if with_wall_time else None)
                for e in acc.Tensors(tag)]
        graph = acc.SerializedGraph() if tags[pea.GRAPH] else None
        run_metadata = {t: acc.RunMetadata(t).SerializeToString(deterministic=True)
                        for t in tags[pea.RUN_METADATA]}
        out[run] = {"tensors": tensors, "graph": graph, "run_metadata": run_metadata}
    return out


def other_events(run_dir):
    """The events of one run that are not summaries (graph_def, tagged_run_metadata,
    session_log...), in order, as (kind, step, payload bytes), read with
    TensorBoard's LegacyEventFileLoader (the raw events, before data_compat) from every event file in name order."""
    import os
    from tensorboard.backend.event_processing import event_file_loader
    out = []
    for name in sorted(os.listdir(run_dir)):
        if "tfevents" not in name:
            continue
        for ev in event_file_loader.LegacyEventFileLoader(os.path.join(run_dir, name)).Load():
            kind = ev.WhichOneof("what")
            if kind in ("summary", "file_version"):
                continue
            payload = getattr(ev, kind)
            if not isinstance(payload, bytes):
                payload = payload.SerializeToString(deterministic=True)
            out.append((kind, ev.step, payload))
    return out
