"""_deps.py -- optional packages, imported when a call first needs them.

tbwal itself needs none: add_scalar and add_scalars are C. Every other
SummaryWriter method builds a TensorBoard protobuf with the packages below;
when one is missing the call raises tbwal.MissingDependency (an ImportError
and a tbwal.Error) naming the pip package, and logs nothing.
doc/python-api.md has the table of which method needs what.
"""

import importlib

from ._tbwal import Error


class MissingDependency(Error, ImportError):
    """An optional package a SummaryWriter method needs is not installed."""


def need(module, pip_name, what):
    """Import module (dotted name) or raise MissingDependency for what."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependency("%s needs the package %s (module %s is missing: %s): "
                                "pip install %s" % (what, pip_name, module, e, pip_name)) from e
