"""conftest.py -- shared fixtures for the pytest suites under tests/py.

Each area keeps its own tests in a subfolder (writer/, tensorboard/,
frameworks/ ...). What every suite needs lives here: where the build and the
sources are, and the built command-line tools.
"""
import os
import pathlib

import pytest

SRCDIR = pathlib.Path(os.environ.get("TBW_SRCDIR", pathlib.Path(__file__).resolve().parents[2]))
BUILDDIR = pathlib.Path(os.environ.get("TBW_BUILDDIR", SRCDIR / "build"))


@pytest.fixture(scope="session")
def tools():
    """Paths of the command-line tools: the autotools build's, or, with
    $TBW_TOOLSDIR, the pip-installed ones (scripts/test-python.sh --wheel)."""
    d = pathlib.Path(os.environ["TBW_TOOLSDIR"]) if os.environ.get("TBW_TOOLSDIR") else BUILDDIR / "tools"
    found = {n: d / n for n in ("tbrecover", "tbsync", "tbcompact", "tbstat")}
    missing = [str(p) for p in found.values() if not p.exists()]
    if missing:
        raise RuntimeError("tools not built: %s (run scripts/build.sh)" % ", ".join(missing))
    return found
