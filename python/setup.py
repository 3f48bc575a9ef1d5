"""setup.py -- build and install the tbwal Python package (offline, no PyPI).

    /usr/bin/python3 -m pip install ./python        (see python/README.md)

The extension tbwal._tbwal is compiled from python/_tbwal.c and linked
statically with libtbwal_core.a, the library built by the project's own
autotools build, so the installed module needs no LD_LIBRARY_PATH and no
installed libtbwal. Where that library comes from:
  1. $TBW_BUILDDIR, if set (an already configured build directory);
  2. else ../build, if ./scripts/build.sh configured it;
  3. else a private build in python/build/libtbwal (running autoreconf -fi
     first when ../configure is missing).
In each case `make libtbwal_core.la` brings it up to date. The build needs the
Debian packages that scripts/setup.sh installs (build tools,
zlib1g-dev, python3-dev, ...); pip needs python3-pip and python3-setuptools.
"""
import os
import shlex
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)


def _run(cmd, cwd):
    print("tbwal setup: (cd %s && %s)" % (cwd, " ".join(map(shlex.quote, cmd))), flush=True)
    subprocess.check_call(cmd, cwd=cwd)


def _library_builddir():
    """Configure (if needed) and build libtbwal_core; return its build directory."""
    bdir = os.environ.get("TBW_BUILDDIR")
    if not bdir:
        bdir = os.path.join(TOP, "build")
        if not os.path.isfile(os.path.join(bdir, "Makefile")):
            bdir = os.path.join(HERE, "build", "libtbwal")
    bdir = os.path.abspath(bdir)
    if not os.path.isfile(os.path.join(bdir, "Makefile")):
        if not os.path.isfile(os.path.join(TOP, "configure")):
            _run(["autoreconf", "-fi"], TOP)
        os.makedirs(bdir, exist_ok=True)
        _run([os.path.join(TOP, "configure"), "--enable-shared", "--enable-static"], bdir)
    _run(["make", "-j%d" % (os.cpu_count() or 1), "libtbwal_core.la"], bdir)
    return bdir


def _pkg_libs():
    try:
        out = subprocess.check_output(["pkg-config", "--libs", "zlib"], text=True)
        return shlex.split(out)
    except (OSError, subprocess.CalledProcessError):
        return ["-lz"]


class BuildExt(build_ext):
    def run(self):
        bdir = _library_builddir()
        archive = os.path.join(bdir, ".libs", "libtbwal_core.a")
        if not os.path.isfile(archive):
            sys.exit("tbwal setup: %s was not built" % archive)
        # setuptools relinks only when a source is newer than the module:
        # make the library archive count, or a stale module would survive.
        for ext in self.extensions:
            ext.depends = list(ext.depends) + [archive, os.path.join(TOP, "include", "tbwal.h")]
            ext.extra_objects = [archive]
            ext.extra_link_args = _pkg_libs() + ["-pthread"]
        super().run()


setup(
    name="tbwal",
    version="0.1.0",
    description="Crash-resilient drop-in SummaryWriter for TensorBoard scalars",
    packages=["tbwal"],
    package_dir={"tbwal": os.path.relpath(os.path.join(HERE, "tbwal"))},
    ext_modules=[Extension(
        "tbwal._tbwal",
        sources=[os.path.relpath(os.path.join(HERE, "_tbwal.c"))],
        include_dirs=[os.path.join(TOP, "include")],
        extra_compile_args=["-std=gnu11", "-fvisibility=hidden"],
    )],
    cmdclass={"build_ext": BuildExt},
    python_requires=">=3.10",
    zip_safe=False,
)
