"""instrument.py -- make a writer say what it logged: its add_scalar (what
Lightning's and Hugging Face's loggers call) acks each (run, tag, step) once
the call has returned. Wraps the one instance, not the class."""
import os

from ackutil import ack


def ack_scalars(writer, logdir):
    run = os.path.relpath(str(writer.log_dir), str(logdir))
    inner = writer.add_scalar

    def add_scalar(tag, scalar_value, global_step=None, *args, **kwargs):
        r = inner(tag, scalar_value, global_step, *args, **kwargs)
        ack(run, tag, 0 if global_step is None else global_step)
        return r

    writer.add_scalar = add_scalar
    return run
