"""_summary.py -- build TensorBoard Summary protos for SummaryWriter's methods.

The semantics are torch.utils.tensorboard.summary's (torch 2.13, BSD
licence), ported so that they need no torch: values may be numpy arrays,
Python numbers and lists, or torch tensors (converted with .numpy() when
torch is what the caller uses). The protos are the tensorboard package's
own (tensorboard.compat.proto, tensorboard.plugins.*), images are encoded
by Pillow, GIFs by moviepy, WAV by the standard library. Where a port must
differ from torch, a comment says why; tests/py/writer/test_parity.py
compares the results with torch's writer through TensorBoard's loader.

Importing this module needs numpy and tensorboard (writer.py turns a
missing one into tbwal.MissingDependency); Pillow, matplotlib, moviepy and
onnx are imported by the functions that use them.
"""

import io
import json
import math
import struct
import sys
import tempfile
import wave

import numpy as np
from google.protobuf import struct_pb2
from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto

from ._deps import need


# ---- values -----------------------------------------------------------------

def _torch_tensor(x):
    """x when it is a torch.Tensor (torch already imported by the caller), else None."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return x
    return None


def make_np(x):
    """torch's make_np, plus lists, tuples and anything numpy can convert.

    numpy arrays pass through; a scalar becomes a 1-element array; a torch
    tensor is detached to the CPU (bfloat16 as float16, a meta tensor as one
    random number, like torch).
    """
    if isinstance(x, np.ndarray):
        return x
    if np.isscalar(x):
        return np.array([x])
    t = _torch_tensor(x)
    if t is not None:
        if t.device.type == "meta":
            return np.random.randn(1)
        if t.dtype == sys.modules["torch"].bfloat16:
            t = t.to(sys.modules["torch"].float16)
        return t.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception:
        raise TypeError("got %s, but a numpy array, a torch tensor, a number or a list "
                        "is expected" % type(x).__name__) from None


def _shape(dims):
    return TensorShapeProto(dim=[TensorShapeProto.Dim(size=int(d)) for d in dims])


# ---- hparams ----------------------------------------------------------------

def hparams(hparam_dict=None, metric_dict=None, hparam_domain_discrete=None):
    """The experiment, session-start and session-end summaries of the hparams plugin."""
    from tensorboard.plugins.hparams.api_pb2 import (DataType, Experiment, HParamInfo,
                                                     MetricInfo, MetricName, Status)
    from tensorboard.plugins.hparams.metadata import (EXPERIMENT_TAG, PLUGIN_DATA_VERSION,
                                                      PLUGIN_NAME, SESSION_END_INFO_TAG,
                                                      SESSION_START_INFO_TAG)
    from tensorboard.plugins.hparams.plugin_data_pb2 import (HParamsPluginData,
                                                             SessionEndInfo, SessionStartInfo)

    if not isinstance(hparam_dict, dict):
        raise TypeError("parameter: hparam_dict should be a dictionary, nothing logged.")
    if not isinstance(metric_dict, dict):
        raise TypeError("parameter: metric_dict should be a dictionary, nothing logged.")
    hparam_domain_discrete = hparam_domain_discrete or {}
    if not isinstance(hparam_domain_discrete, dict):
        raise TypeError("parameter: hparam_domain_discrete should be a dictionary, nothing logged.")
    for k, v in hparam_domain_discrete.items():
        if (k not in hparam_dict or not isinstance(v, list)
                or not all(isinstance(d, type(hparam_dict[k])) for d in v)):
            raise TypeError("parameter: hparam_domain_discrete[%s] should be a list of same type "
                            "as hparam_dict[%s]." % (k, k))

    def domain(k, field):
        if k not in hparam_domain_discrete:
            return None
        return struct_pb2.ListValue(values=[struct_pb2.Value(**{field: d})
                                            for d in hparam_domain_discrete[k]])

    hps = []
    ssi = SessionStartInfo()
    for k, v in hparam_dict.items():
        if v is None:
            continue
        # torch's order: bool is an int, so True is logged as the number 1.0.
        if isinstance(v, (int, float)):
            ssi.hparams[k].number_value = v
            hps.append(HParamInfo(name=k, type=DataType.Value("DATA_TYPE_FLOAT64"),
                                  domain_discrete=domain(k, "number_value")))
            continue
        if isinstance(v, str):
            ssi.hparams[k].string_value = v
            hps.append(HParamInfo(name=k, type=DataType.Value("DATA_TYPE_STRING"),
                                  domain_discrete=domain(k, "string_value")))
            continue
        if _torch_tensor(v) is not None or isinstance(v, np.generic):
            # torch accepts a tensor (its first element); a numpy number likewise here.
            ssi.hparams[k].number_value = make_np(v).reshape(-1)[0]
            hps.append(HParamInfo(name=k, type=DataType.Value("DATA_TYPE_FLOAT64")))
            continue
        raise ValueError("value should be one of int, float, str, bool, or torch.Tensor")

    def summary(tag, **content):
        data = HParamsPluginData(version=PLUGIN_DATA_VERSION, **content)
        smd = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=data.SerializeToString()))
        return Summary(value=[Summary.Value(tag=tag, metadata=smd)])

    ssi = summary(SESSION_START_INFO_TAG, session_start_info=ssi)
    exp = Experiment(hparam_infos=hps,
                     metric_infos=[MetricInfo(name=MetricName(tag=k)) for k in metric_dict])
    exp = summary(EXPERIMENT_TAG, experiment=exp)
    sei = summary(SESSION_END_INFO_TAG,
                  session_end_info=SessionEndInfo(status=Status.Value("STATUS_SUCCESS")))
    return exp, ssi, sei


# ---- tensors ----------------------------------------------------------------

def _half_to_int(f):
    # torch stores a half's value as the bits of the float32 with that value.
    return struct.unpack("i", struct.pack("f", f))[0]


# numpy dtype -> (TensorProto dtype, field, conversion), as torch's _TENSOR_TYPE_MAP.
_NP_TENSOR_TYPES = {
    np.dtype(np.float16): ("DT_HALF", "half_val", lambda a: [_half_to_int(x) for x in a.tolist()]),
    np.dtype(np.float32): ("DT_FLOAT", "float_val", lambda a: a.tolist()),
    np.dtype(np.float64): ("DT_DOUBLE", "double_val", lambda a: a.tolist()),
    np.dtype(np.int8): ("DT_INT8", "int_val", lambda a: a.tolist()),
    np.dtype(np.uint8): ("DT_UINT8", "uint32_val", lambda a: a.tolist()),
    np.dtype(np.int16): ("DT_INT16", "int_val", lambda a: a.tolist()),
    np.dtype(np.int32): ("DT_INT32", "int_val", lambda a: a.tolist()),
    np.dtype(np.int64): ("DT_INT64", "int64_val", lambda a: a.tolist()),
    np.dtype(np.complex64): ("DT_COMPLEX64", "scomplex_val",
                             lambda a: a.view(np.float32).tolist()),
    np.dtype(np.complex128): ("DT_COMPLEX128", "dcomplex_val",
                              lambda a: a.view(np.float64).tolist()),
    np.dtype(np.bool_): ("DT_BOOL", "bool_val", lambda a: a.tolist()),
}


def tensor_proto(tag, tensor):
    """A tensor summary (plugin "tensor"), dtype kept, like torch's add_tensor."""
    t = _torch_tensor(tensor)
    if t is not None:
        # torch's own conversion covers its dtypes numpy lacks (bfloat16, complex32,
        # quantized): same bytes as torch's writer by construction.
        from torch.utils.tensorboard.summary import tensor_proto as torch_tensor_proto
        return torch_tensor_proto(tag, t)
    a = np.asarray(tensor)
    if a.size * a.itemsize >= (1 << 31):
        raise ValueError("tensor is bigger than protocol buffer's hard limit of 2GB in size")
    if a.dtype not in _NP_TENSOR_TYPES:
        raise ValueError("%s has unsupported tensor dtype %s" % (tag, a.dtype))
    dtype, field, conv = _NP_TENSOR_TYPES[a.dtype]
    tp = TensorProto(dtype=dtype, tensor_shape=_shape(a.shape),
                     **{field: conv(np.ascontiguousarray(a).reshape(-1))})
    smd = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="tensor"))
    return Summary(value=[Summary.Value(tag=tag, metadata=smd, tensor=tp)])


# ---- histograms -------------------------------------------------------------

def histogram_raw(name, min, max, num, sum, sum_squares, bucket_limits, bucket_counts):
    hist = HistogramProto(min=min, max=max, num=num, sum=sum, sum_squares=sum_squares,
                          bucket_limit=bucket_limits, bucket=bucket_counts)
    return Summary(value=[Summary.Value(tag=name, histo=hist)])


def histogram(name, values, bins, max_bins=None):
    values = make_np(values)
    hist = make_histogram(values.astype(float), bins, max_bins)
    return Summary(value=[Summary.Value(tag=name, histo=hist)])


def make_histogram(values, bins, max_bins=None):
    """torch's make_histogram: numpy.histogram, empty buckets trimmed at both ends."""
    if values.size == 0:
        raise ValueError("The input has no element.")
    values = values.reshape(-1)
    counts, limits = np.histogram(values, bins=bins)
    num_bins = len(counts)
    if max_bins is not None and num_bins > max_bins:
        subsampling = num_bins // max_bins
        subsampling_remainder = num_bins % subsampling
        if subsampling_remainder != 0:
            counts = np.pad(counts, pad_width=[[0, subsampling - subsampling_remainder]],
                            mode="constant", constant_values=0)
        counts = counts.reshape(-1, subsampling).sum(axis=-1)
        new_limits = np.empty((counts.size + 1,), limits.dtype)
        new_limits[:-1] = limits[:-1:subsampling]
        new_limits[-1] = limits[-1]
        limits = new_limits
    cum_counts = np.cumsum(np.greater(counts, 0))
    start, end = np.searchsorted(cum_counts, [0, cum_counts[-1] - 1], side="right")
    start = int(start)
    end = int(end) + 1
    del cum_counts
    counts = counts[start - 1:end] if start > 0 else np.concatenate([[0], counts[:end]])
    limits = limits[start:end + 1]
    if counts.size == 0 or limits.size == 0:
        raise ValueError("The histogram is empty, please file a bug report.")
    sum_sq = values.dot(values)
    return HistogramProto(min=values.min(), max=values.max(), num=len(values), sum=values.sum(),
                          sum_squares=sum_sq, bucket_limit=limits.tolist(),
                          bucket=counts.tolist())


# ---- images -----------------------------------------------------------------

def _calc_scale_factor(a):
    return 1 if a.dtype == np.uint8 else 255


def make_grid(I, ncols=8):
    """N images CHW (C = 1 or 3) tiled into one CHW canvas, ncols per row."""
    if not isinstance(I, np.ndarray):
        raise AssertionError("plugin error, should pass numpy array here")
    if I.shape[1] == 1:
        I = np.concatenate([I, I, I], 1)
    if I.ndim != 4 or I.shape[1] != 3:
        raise AssertionError("Input should be a 4D numpy array with 3 channels")
    nimg, H, W = I.shape[0], I.shape[2], I.shape[3]
    ncols = min(nimg, ncols)
    nrows = int(np.ceil(float(nimg) / ncols))
    canvas = np.zeros((3, H * nrows, W * ncols), dtype=I.dtype)
    i = 0
    for y in range(nrows):
        for x in range(ncols):
            if i >= nimg:
                break
            canvas[:, y * H:(y + 1) * H, x * W:(x + 1) * W] = I[i]
            i = i + 1
    return canvas


def convert_to_HWC(tensor, input_format):
    """An image or batch in input_format (NCHW, NHWC, CHW, HWC, HW, WH...) as HWC."""
    if len(set(input_format)) != len(input_format):
        raise AssertionError("You can not use the same dimension shorthand twice. "
                             "input_format: %s" % input_format)
    if len(tensor.shape) != len(input_format):
        raise AssertionError("size of input tensor and input format are different. "
                             "tensor shape: %s, input_format: %s" % (tensor.shape, input_format))
    input_format = input_format.upper()
    if len(input_format) == 4:
        index = [input_format.find(c) for c in "NCHW"]
        tensor_CHW = make_grid(tensor.transpose(index))
        return tensor_CHW.transpose(1, 2, 0)
    if len(input_format) == 3:
        index = [input_format.find(c) for c in "HWC"]
        tensor_HWC = tensor.transpose(index)
        if tensor_HWC.shape[2] == 1:
            tensor_HWC = np.concatenate([tensor_HWC, tensor_HWC, tensor_HWC], 2)
        return tensor_HWC
    if len(input_format) == 2:
        index = [input_format.find(c) for c in "HW"]
        tensor = tensor.transpose(index)
        return np.stack([tensor, tensor, tensor], 2)
    # torch returns None here and fails later; say what is wrong instead.
    raise AssertionError("dataformats must have 2, 3 or 4 letters, got %r" % input_format)


def image(tag, tensor, rescale=1, dataformats="NCHW"):
    tensor = convert_to_HWC(make_np(tensor), dataformats)
    scale_factor = _calc_scale_factor(tensor)
    tensor = (tensor.astype(np.float32) * scale_factor).clip(0, 255).astype(np.uint8)
    return Summary(value=[Summary.Value(tag=tag, image=make_image(tensor, rescale=rescale))])


def image_boxes(tag, tensor_image, tensor_boxes, rescale=1, dataformats="CHW", labels=None):
    tensor_image = convert_to_HWC(make_np(tensor_image), dataformats)
    tensor_boxes = make_np(tensor_boxes)
    tensor_image = tensor_image.astype(np.float32) * _calc_scale_factor(tensor_image)
    img = make_image(tensor_image.clip(0, 255).astype(np.uint8), rescale=rescale,
                     rois=tensor_boxes, labels=labels)
    return Summary(value=[Summary.Value(tag=tag, image=img)])


def _draw_single_box(image, xmin, ymin, xmax, ymax, display_str, color="black",
                     color_text="black", thickness=2):
    from PIL import ImageDraw, ImageFont
    font = ImageFont.load_default()
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = xmin, xmax, ymin, ymax
    draw.line([(left, top), (left, bottom), (right, bottom), (right, top), (left, top)],
              width=thickness, fill=color)
    if display_str:
        text_bottom = bottom
        _left, _top, _right, _bottom = font.getbbox(display_str)
        text_width, text_height = _right - _left, _bottom - _top
        margin = np.ceil(0.05 * text_height)
        draw.rectangle([(left, text_bottom - text_height - 2 * margin),
                        (left + text_width, text_bottom)], fill=color)
        draw.text((left + margin, text_bottom - text_height - margin), display_str,
                  fill=color_text, font=font)
    return image


def draw_boxes(disp_image, boxes, labels=None):
    for i in range(boxes.shape[0]):
        disp_image = _draw_single_box(disp_image, boxes[i, 0], boxes[i, 1], boxes[i, 2],
                                      boxes[i, 3],
                                      display_str=None if labels is None else labels[i],
                                      color="Red")
    return disp_image


def make_image(tensor, rescale=1, rois=None, labels=None):
    """An HWC uint8 array as a PNG Summary.Image (Pillow)."""
    Image = need("PIL.Image", "Pillow", "encoding an image")
    height, width, channel = tensor.shape
    scaled_height = int(height * rescale)
    scaled_width = int(width * rescale)
    img = Image.fromarray(tensor)
    if rois is not None:
        img = draw_boxes(img, rois, labels=labels)
    img = img.resize((scaled_width, scaled_height), Image.Resampling.LANCZOS)
    with io.BytesIO() as output:
        img.save(output, format="PNG")
        image_string = output.getvalue()
    return Summary.Image(height=height, width=width, colorspace=channel,
                         encoded_image_string=image_string)


def figure_to_image(figures, close=True):
    """Render matplotlib figure(s) to a CHW (or NCHW for a list) uint8 array."""
    need("matplotlib", "matplotlib", "add_figure")
    import matplotlib.backends.backend_agg as plt_backend_agg
    import matplotlib.pyplot as plt

    def render_to_rgb(figure):
        canvas = plt_backend_agg.FigureCanvasAgg(figure)
        canvas.draw()
        data = np.frombuffer(canvas.buffer_rgba(), dtype=np.uint8)
        w, h = figure.canvas.get_width_height()
        image_hwc = data.reshape([h, w, 4])[:, :, 0:3]
        image_chw = np.moveaxis(image_hwc, source=2, destination=0)
        if close:
            plt.close(figure)
        return image_chw

    if isinstance(figures, list):
        return np.stack([render_to_rgb(f) for f in figures])
    return render_to_rgb(figures)


# ---- video and audio --------------------------------------------------------

def _prepare_video(V):
    """B x T x C x H x W -> T x H' x W' x C, the batch tiled in a grid of powers of 2."""
    b, t, c, h, w = V.shape
    if V.dtype == np.uint8:
        V = np.float32(V) / 255.0

    def is_power2(num):
        return num != 0 and ((num & (num - 1)) == 0)

    if not is_power2(V.shape[0]):
        len_addition = int(2 ** V.shape[0].bit_length() - V.shape[0])
        V = np.concatenate((V, np.zeros(shape=(len_addition, t, c, h, w))), axis=0)
    n_rows = 2 ** ((b.bit_length() - 1) // 2)
    n_cols = V.shape[0] // n_rows
    V = np.reshape(V, (n_rows, n_cols, t, c, h, w))
    V = np.transpose(V, axes=(2, 0, 4, 1, 5, 3))
    return np.reshape(V, (t, n_rows * h, n_cols * w, c))


def video(tag, tensor, fps=4):
    tensor = _prepare_video(make_np(tensor))
    scale_factor = _calc_scale_factor(tensor)
    tensor = (tensor.astype(np.float32) * scale_factor).clip(0, 255).astype(np.uint8)
    return Summary(value=[Summary.Value(tag=tag, image=make_video(tensor, fps))])


def make_video(tensor, fps):
    """T x H x W x C uint8 frames as an animated GIF Summary.Image (moviepy).

    torch prints a warning and logs an empty image when moviepy is missing or
    is 2.x (no moviepy.editor); here a missing moviepy is an error, and 2.x works.
    """
    need("moviepy", "moviepy", "add_video")
    try:
        from moviepy.editor import ImageSequenceClip    # moviepy 1.x
    except ImportError:
        try:
            from moviepy import ImageSequenceClip       # moviepy 2.x
        except ImportError as e:
            from ._deps import MissingDependency
            raise MissingDependency("add_video: moviepy is installed but ImageSequenceClip "
                                    "cannot be imported (%s): pip install imageio" % e) from e
    _t, h, w, c = tensor.shape
    clip = ImageSequenceClip(list(tensor), fps=fps)
    with tempfile.NamedTemporaryFile(suffix=".gif") as f:
        filename = f.name
        try:  # newer moviepy takes logger instead of progress_bar
            clip.write_gif(filename, verbose=False, logger=None)
        except TypeError:
            try:
                clip.write_gif(filename, verbose=False, progress_bar=False)
            except TypeError:
                try:
                    clip.write_gif(filename, verbose=False)
                except TypeError:
                    clip.write_gif(filename, logger=None)    # moviepy 2.x
        f.seek(0)
        tensor_string = f.read()
    return Summary.Image(height=h, width=w, colorspace=c, encoded_image_string=tensor_string)


def audio(tag, tensor, sample_rate=44100):
    array = make_np(tensor).squeeze()
    if abs(array).max() > 1:
        print("warning: audio amplitude out of range, auto clipped.")
        array = array.clip(-1, 1)
    if array.ndim != 1:
        raise AssertionError("input tensor should be 1 dimensional.")
    array = (array * np.iinfo(np.int16).max).astype("<i2")
    with io.BytesIO() as fio:
        with wave.open(fio, "wb") as wave_write:
            wave_write.setnchannels(1)
            wave_write.setsampwidth(2)
            wave_write.setframerate(sample_rate)
            wave_write.writeframes(array.data)
        audio_string = fio.getvalue()
    a = Summary.Audio(sample_rate=sample_rate, num_channels=1, length_frames=array.shape[-1],
                      encoded_audio_string=audio_string, content_type="audio/wav")
    return Summary(value=[Summary.Value(tag=tag, audio=a)])


# ---- text, layouts, curves, meshes ------------------------------------------

def custom_scalars(layout):
    from tensorboard.plugins.custom_scalar import layout_pb2
    categories = []
    for k, v in layout.items():
        charts = []
        for chart_name, chart_metadata in v.items():
            tags = chart_metadata[1]
            if chart_metadata[0] == "Margin":
                if len(tags) != 3:
                    raise AssertionError("len(tags) != 3")
                mgcc = layout_pb2.MarginChartContent(series=[
                    layout_pb2.MarginChartContent.Series(value=tags[0], lower=tags[1],
                                                         upper=tags[2])])
                chart = layout_pb2.Chart(title=chart_name, margin=mgcc)
            else:
                mlcc = layout_pb2.MultilineChartContent(tag=tags)
                chart = layout_pb2.Chart(title=chart_name, multiline=mlcc)
            charts.append(chart)
        categories.append(layout_pb2.Category(title=k, chart=charts))
    layout = layout_pb2.Layout(category=categories)
    smd = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="custom_scalars"))
    tensor = TensorProto(dtype="DT_STRING", string_val=[layout.SerializeToString()],
                         tensor_shape=TensorShapeProto())
    return Summary(value=[Summary.Value(tag="custom_scalars__config__", tensor=tensor,
                                        metadata=smd)])


def text(tag, text):
    from tensorboard.plugins.text.plugin_data_pb2 import TextPluginData
    smd = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(
        plugin_name="text", content=TextPluginData(version=0).SerializeToString()))
    tensor = TensorProto(dtype="DT_STRING", string_val=[text.encode(encoding="utf_8")],
                         tensor_shape=_shape([1]))
    return Summary(value=[Summary.Value(tag=tag + "/text_summary", metadata=smd, tensor=tensor)])


def _pr_summary(tag, data, num_thresholds):
    from tensorboard.plugins.pr_curve.plugin_data_pb2 import PrCurvePluginData
    content = PrCurvePluginData(version=0, num_thresholds=num_thresholds).SerializeToString()
    smd = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="pr_curves",
                                                                 content=content))
    tensor = TensorProto(dtype="DT_FLOAT", float_val=data.reshape(-1).tolist(),
                         tensor_shape=_shape(data.shape[:2]))
    return Summary(value=[Summary.Value(tag=tag, metadata=smd, tensor=tensor)])


def pr_curve_raw(tag, tp, fp, tn, fn, precision, recall, num_thresholds=127, weights=None):
    num_thresholds = min(num_thresholds, 127)
    data = np.stack([make_np(x) for x in (tp, fp, tn, fn, precision, recall)])
    return _pr_summary(tag, data, num_thresholds)


def pr_curve(tag, labels, predictions, num_thresholds=127, weights=None):
    num_thresholds = min(num_thresholds, 127)
    data = compute_curve(make_np(labels), make_np(predictions), num_thresholds=num_thresholds,
                         weights=weights)
    return _pr_summary(tag, data, num_thresholds)


def compute_curve(labels, predictions, num_thresholds=None, weights=None):
    _MINIMUM_COUNT = 1e-7
    if weights is None:
        weights = 1.0
    bucket_indices = np.int32(np.floor(predictions * (num_thresholds - 1)))
    float_labels = labels.astype(np.float64)
    histogram_range = (0, num_thresholds - 1)
    tp_buckets, _ = np.histogram(bucket_indices, bins=num_thresholds, range=histogram_range,
                                 weights=float_labels * weights)
    fp_buckets, _ = np.histogram(bucket_indices, bins=num_thresholds, range=histogram_range,
                                 weights=(1.0 - float_labels) * weights)
    tp = np.cumsum(tp_buckets[::-1])[::-1]
    fp = np.cumsum(fp_buckets[::-1])[::-1]
    tn = fp[0] - fp
    fn = tp[0] - tp
    precision = tp / np.maximum(_MINIMUM_COUNT, tp + fp)
    recall = tp / np.maximum(_MINIMUM_COUNT, tp + fn)
    return np.stack((tp, fp, tn, fn, precision, recall))


def mesh(tag, vertices, colors, faces, config_dict, display_name=None, description=None):
    from tensorboard.plugins.mesh import metadata
    from tensorboard.plugins.mesh.plugin_data_pb2 import MeshPluginData
    json_config = "{}" if config_dict is None else json.dumps(config_dict, sort_keys=True)
    tensors = [(vertices, MeshPluginData.VERTEX), (faces, MeshPluginData.FACE),
               (colors, MeshPluginData.COLOR)]
    tensors = [t for t in tensors if t[0] is not None]
    components = metadata.get_components_bitmask([ct for _, ct in tensors])
    values = []
    for tensor, content_type in tensors:
        # torch converts with torch.as_tensor: lists of Python floats become float32.
        a = make_np(tensor)
        if a.dtype == np.float64 and _torch_tensor(tensor) is None:
            a = a.astype(np.float32)
        smd = metadata.create_summary_metadata(tag, display_name, content_type, components,
                                               list(a.shape), description,
                                               json_config=json_config)
        tp = TensorProto(dtype="DT_FLOAT", float_val=a.reshape(-1).tolist(),
                         tensor_shape=_shape(a.shape[:3]))
        values.append(Summary.Value(tag=metadata.get_instance_name(tag, content_type),
                                    tensor=tp, metadata=smd))
    return Summary(value=values)


# ---- graphs -----------------------------------------------------------------

def onnx_graph(fname):
    """An ONNX model file as a TensorBoard GraphDef (torch's load_onnx_graph)."""
    onnx = need("onnx", "onnx", "add_onnx_graph")
    import itertools
    from tensorboard.compat.proto.attr_value_pb2 import AttrValue
    from tensorboard.compat.proto.graph_pb2 import GraphDef
    from tensorboard.compat.proto.node_def_pb2 import NodeDef
    from tensorboard.compat.proto.versions_pb2 import VersionDef
    graph = onnx.load(fname).graph
    nodes = []
    for node in itertools.chain(graph.input, graph.output):
        shapeproto = TensorShapeProto(dim=[TensorShapeProto.Dim(size=d.dim_value)
                                           for d in node.type.tensor_type.shape.dim])
        nodes.append(NodeDef(name=node.name.encode(encoding="utf_8"), op="Variable", input=[],
                             attr={"dtype": AttrValue(type=node.type.tensor_type.elem_type),
                                   "shape": AttrValue(shape=shapeproto)}))
    for node in graph.node:
        _attr = [" = ".join([str(f[1]) for f in s.ListFields()]) for s in node.attribute]
        attr = ", ".join(_attr).encode(encoding="utf_8")
        nodes.append(NodeDef(name=node.output[0].encode(encoding="utf_8"), op=node.op_type,
                             input=node.input, attr={"parameters": AttrValue(s=attr)}))
    return GraphDef(node=nodes, versions=VersionDef(producer=22))


def torch_graph(model, input_to_model, verbose, use_strict_trace):
    """(GraphDef, RunMetadata) of a torch model, traced by torch's own code."""
    need("torch", "torch", "add_graph")
    from torch.utils.tensorboard._pytorch_graph import graph
    return graph(model, input_to_model, verbose, use_strict_trace)


# ---- embedding projector files ----------------------------------------------

def embedding_files(mat, metadata, label_img, subdir, global_step, tag, metadata_header):
    """The projector's files for one embedding: ({name: bytes}, EmbeddingInfo)."""
    from tensorboard.plugins.projector.projector_config_pb2 import EmbeddingInfo
    files = {}
    if metadata is not None:
        if mat.shape[0] != len(metadata):
            raise AssertionError("#labels should equal with #data points")
        if not metadata_header:
            rows = [str(x) for x in metadata]
        else:
            if len(metadata_header) != len(metadata[0]):
                raise AssertionError("len of header must be equal to the number of columns "
                                     "in metadata")
            rows = ["\t".join(str(e) for e in row) for row in [metadata_header] + list(metadata)]
        files["metadata.tsv"] = ("\n".join(rows) + "\n").encode("utf-8")
    if label_img is not None:
        label_img = make_np(label_img)
        if mat.shape[0] != label_img.shape[0]:
            raise AssertionError("#images should equal with #data points")
        files["sprite.png"] = _sprite(label_img)
    if mat.ndim != 2:
        raise AssertionError("mat should be 2D, where mat.size(0) is the number of data points")
    files["tensors.tsv"] = "".join("\t".join(str(i.item()) for i in x) + "\n"
                                   for x in mat).encode("utf-8")
    info = EmbeddingInfo()
    info.tensor_name = "%s:%s" % (tag, str(global_step).zfill(5))
    info.tensor_path = subdir + "/tensors.tsv"
    if metadata is not None:
        info.metadata_path = subdir + "/metadata.tsv"
    if label_img is not None:
        info.sprite.image_path = subdir + "/sprite.png"
        info.sprite.single_image_dim.extend([label_img.shape[3], label_img.shape[2]])
    return files, info


def _sprite(label_img):
    Image = need("PIL.Image", "Pillow", "add_embedding's label_img")
    nrow = math.ceil(label_img.shape[0] ** 0.5)
    arranged_img_CHW = make_grid(label_img, ncols=nrow)
    square = np.zeros((arranged_img_CHW.shape[2], arranged_img_CHW.shape[2], 3))
    arranged_img_HWC = arranged_img_CHW.transpose(1, 2, 0)
    square[:arranged_img_HWC.shape[0], :, :] = arranged_img_HWC
    im = Image.fromarray(np.uint8((square * 255).clip(0, 255)))
    with io.BytesIO() as buf:
        im.save(buf, format="PNG")
        return buf.getvalue()
