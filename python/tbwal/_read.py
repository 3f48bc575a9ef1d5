"""_read.py -- read back what a logdir holds, and recover a run, from Python.

    tbwal.read_scalars(logdir)              -> [{"step", "tag", "value", "wall_time"}, ...]
    tbwal.read_scalars(logdir, pandas=True) -> pandas.DataFrame (tbparse's layout)
    tbwal.read_scalars_df(logdir)           -> the same DataFrame
    tbwal.recover(logdir, from_=[...])      -> the recovery report (dict, tbwal.recover/1)

read_scalars reads the logdir's event files (ours and any other writer's:
Summary.Value.simple_value, and rank-0 float tensors of the "scalars"
plugin) and, when the logdir has a tbwal journal, the scalars it holds that
are not in the event files yet (those after the export cursor), so what a
live or killed writer committed is there too, exactly once. Values are the
float32 TensorBoard shows. No third-party package is needed, except pandas
for the DataFrame.
"""

import os
import re
import struct

from . import _tbwal

__all__ = ["read_scalars", "read_scalars_df", "recover"]

_OUR_FILE = re.compile(r"\.tbwal-([0-9a-f]{8})-(S?)([0-9a-f]{16})")
_RUN_DIR = re.compile(r"^(.*)-([0-9a-f]{32})$")


def _f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


def _varint(b, i):
    shift = result = 0
    while True:
        c = b[i]
        i += 1
        result |= (c & 0x7F) << shift
        if not c & 0x80:
            return result, i
        shift += 7


def _fields(b):
    """(field number, wire type, value) of a protobuf message; value is an int
    for varints, bytes for fixed32/fixed64/length-delimited."""
    i, n = 0, len(b)
    while i < n:
        key, i = _varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            ln, i = _varint(b, i)
            v, i = b[i:i + ln], i + ln
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        yield num, wt, v


def _tensor_scalar(b):
    """The value of a rank-0 DT_FLOAT / DT_DOUBLE tensor, or None."""
    dtype, rank0, val = 0, True, None
    for num, wt, v in _fields(b):
        if num == 1 and wt == 0:
            dtype = v
        elif num == 2 and wt == 2:
            rank0 = not any(n == 2 for n, _, _ in _fields(v))   # TensorShapeProto.dim
        elif num == 4 and wt == 2:          # tensor_content
            if dtype == 1 and len(v) == 4:
                val = struct.unpack("<f", v)[0]
            elif dtype == 2 and len(v) == 8:
                val = struct.unpack("<d", v)[0]
        elif num == 5:                       # float_val
            if wt == 5:
                val = struct.unpack("<f", v)[0]
            elif wt == 2 and len(v) >= 4:
                val = struct.unpack("<f", v[:4])[0]
        elif num == 6:                       # double_val
            if wt == 1:
                val = struct.unpack("<d", v)[0]
            elif wt == 2 and len(v) >= 8:
                val = struct.unpack("<d", v[:8])[0]
    return val if rank0 and dtype in (1, 2) else None


def _plugin(meta):
    for num, wt, v in _fields(meta):
        if num == 1 and wt == 2:            # plugin_data
            for n2, w2, v2 in _fields(v):
                if n2 == 1 and w2 == 2:
                    return v2.decode("utf-8", "replace")
    return ""


def _records(path):
    """The TFRecord payloads of an event file; stops at a torn tail."""
    with open(path, "rb") as f:
        data = f.read()
    i, n = 0, len(data)
    while i + 12 <= n:
        (ln,) = struct.unpack_from("<Q", data, i)
        if i + 12 + ln + 4 > n:
            break
        yield data[i + 12:i + 12 + ln]
        i += 12 + ln + 4


def _read_event_file(path, out):
    """Append the file's scalars to out; return how many records (events
    after file_version) it holds, which for our files is how many journal
    sequence numbers it covers."""
    nrec = 0
    for rec in _records(path):
        wall, step, summary, is_version, is_log = 0.0, 0, None, False, False
        try:
            for num, wt, v in _fields(rec):
                if num == 1 and wt == 1:
                    wall = struct.unpack("<d", v)[0]
                elif num == 2 and wt == 0:
                    step = v - (1 << 64) if v >= 1 << 63 else v
                elif num == 3:
                    is_version = True
                elif num == 5 and wt == 2:
                    summary = v
                elif num == 6:
                    is_log = True
        except (IndexError, ValueError, struct.error):
            break
        if is_version:
            continue
        nrec += 1
        if summary is None or is_log:
            continue
        for num, wt, v in _fields(summary):
            if num != 1 or wt != 2:
                continue
            tag, value, tensor, meta = None, None, None, b""
            for n2, w2, v2 in _fields(v):
                if n2 == 1 and w2 == 2:
                    tag = v2.decode("utf-8", "replace")
                elif n2 == 2 and w2 == 5:
                    value = struct.unpack("<f", v2)[0]
                elif n2 == 8 and w2 == 2:
                    tensor = v2
                elif n2 == 9 and w2 == 2:
                    meta = v2
            if value is None and tensor is not None and _plugin(meta) == "scalars":
                value = _tensor_scalar(tensor)
            if tag is not None and value is not None:
                out.append({"step": step, "tag": tag, "value": float(value), "wall_time": wall})
    return nrec


def read_scalars(logdir, pandas=False, wall_time=False, journal_dir=None):
    """Every scalar logdir holds, as a list of dicts with keys step, tag, value
    and wall_time, in file order then journal order.

    Event files of any writer are read; with a tbwal journal in logdir (or at
    journal_dir) the scalars it committed but has not exported yet are added,
    each once. pandas=True returns a pandas.DataFrame with tbparse's columns
    (step, tag, value; wall_time too with wall_time=True).
    """
    logdir = os.fspath(logdir)
    if not os.path.isdir(logdir):
        raise _tbwal.NotFound("read_scalars: %s: no such directory" % logdir)
    rows = []
    # the journal first: what is after its export cursor may be exported
    # while the files are read, and is then taken from the files
    try:
        export_seq, jrecs = _tbwal._journal_scalars(logdir, journal_dir)
    except _tbwal.NotFound:
        export_seq, jrecs = 0, []
    covered = export_seq
    for name in sorted(os.listdir(logdir)):
        if "tfevents" not in name or name.startswith("."):
            continue
        path = os.path.join(logdir, name)
        if not os.path.isfile(path):
            continue
        n = _read_event_file(path, rows)
        m = _OUR_FILE.search(name)
        if m:   # base + its records; an "S" file opens with a START that is no journal record
            covered = max(covered, int(m.group(3), 16) + n - (1 if m.group(2) else 0))
    for seq, tag, step, value, wall in jrecs:
        if seq > covered:
            rows.append({"step": step, "tag": tag, "value": _f32(value), "wall_time": wall})
    if pandas:
        return _frame(rows, wall_time)
    return rows


def read_scalars_df(logdir, wall_time=False, journal_dir=None):
    """read_scalars(logdir, pandas=True): a pandas.DataFrame in tbparse's
    layout (step, tag, value; wall_time with wall_time=True)."""
    return read_scalars(logdir, pandas=True, wall_time=wall_time, journal_dir=journal_dir)


def _frame(rows, wall_time):
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("tbwal.read_scalars(pandas=True) needs pandas: pip install pandas") from None
    cols = ["step", "tag", "value"] + (["wall_time"] if wall_time else [])
    df = pd.DataFrame({c: [r[c] for r in rows] for c in cols}, columns=cols)
    df["step"] = df["step"].astype("int64")
    df["value"] = df["value"].astype("float64")
    if wall_time:
        df["wall_time"] = df["wall_time"].astype("float64")
    return df


def _run_name(logdir):
    base = os.path.basename(os.path.normpath(logdir))
    out = "".join(c if (c.isascii() and (c.isalnum() or c in "._-+=@,")) else "_" for c in base).lstrip(".")
    return out[:100] or "run"


def _resolve_from(path, logdir, run_id, run_name):
    path = os.fspath(path)
    if _RUN_DIR.match(os.path.basename(os.path.normpath(path))) or not os.path.isdir(path):
        return path
    name = run_name or _run_name(logdir)
    runs = []
    for e in os.listdir(path):
        m = _RUN_DIR.match(e)
        p = os.path.join(path, e)
        if m and m.group(1) == name and os.path.isdir(p):
            runs.append((max([os.path.getmtime(p)] + [os.path.getmtime(os.path.join(p, f))
                                                      for f in os.listdir(p) if f.startswith("seg-")]),
                         m.group(2), p))
    runs.sort(reverse=True)
    if run_id:
        runs = [r for r in runs if r[1].startswith(run_id)]
    if len(runs) == 1:
        return runs[0][2]
    if not runs:
        return path
    raise ValueError("recover: %d runs named %r in %s (newest first): %s; choose one with run_id="
                     % (len(runs), name, path, ", ".join(r[1] for r in runs)))


def recover(logdir, from_=None, *, run_id=None, run_name=None, journal_dir=None, dry_run=False,
            purge_step=None, tensor=False, delete_replaced=False):
    """Recover a run as `tbwal recover` does and return its report as a dict
    (the tbwal.recover/1 document of doc/cli-json.md, plus "code": the
    library's return code, 0 when recovery ran).

    from_: a sync folder or a list of them: the folder given to the writer as
    sync_dir (the run named after logdir is found in it; several matches
    raise ValueError listing their ids unless run_id picks one) or one run's
    folder. Raises tbwal.Error only for bad arguments or out of memory; a
    recovery that found nothing, or was refused because a writer is running,
    is a report with status "nothing recovered" or "refused".
    """
    logdir = os.fspath(logdir)
    if from_ is None:
        froms = []
    elif isinstance(from_, (str, bytes, os.PathLike)):
        froms = [from_]
    else:
        froms = list(from_)
    froms = [_resolve_from(f, logdir, run_id, run_name) for f in froms]
    return _tbwal._recover(logdir, froms, None if journal_dir is None else os.fspath(journal_dir),
                           bool(dry_run), purge_step, bool(tensor), bool(delete_replaced))
