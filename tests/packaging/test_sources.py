"""test_sources.py -- the pip build (setup.py) compiles exactly the C sources
the autotools build does: the library modules, LMDB with its -D flags, and
each installed tool's sources. setup.py reads them from mk/*.am; here make
itself evaluates the same variables in the configured build directory
(automake's reading of the fragments), and the two must agree. Also: the one
version number (include/tbwal.h) is what configure and setup.py report.

    TBW_BUILDDIR=build TBW_SRCDIR=. python3 tests/packaging/test_sources.py
"""
import fnmatch
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import unittest

SRC = os.path.abspath(os.environ.get("TBW_SRCDIR", os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.path.abspath(os.environ.get("TBW_BUILDDIR", os.path.join(SRC, "build")))


def load_setup():
    spec = importlib.util.spec_from_file_location("tbw_setup", os.path.join(SRC, "setup.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)   # defines the functions; setup() runs only as __main__
    return mod


def make_vars(*names):
    """Each variable as make expands it in the build directory's Makefile."""
    with tempfile.NamedTemporaryFile("w", suffix=".mk", delete=False) as f:
        f.write("print-%:\n\t@echo '$*=$($*)'\n")
        mk = f.name
    try:
        out = subprocess.run(["make", "-s", "--no-print-directory", "-C", BUILD, "-f", "Makefile",
                              "-f", mk] + ["print-" + n for n in names],
                             check=True, stdout=subprocess.PIPE, text=True).stdout
    finally:
        os.unlink(mk)
    res = {}
    for line in out.splitlines():
        k, _, v = line.partition("=")
        res[k] = v.split()
    return res


class SourcesAgree(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.setup = load_setup()
        cls.lists = cls.setup.am_lists()

    def test_core_sources_are_the_library_automake_builds(self):
        v = make_vars("libtbwal_core_la_SOURCES")
        want = [s for s in v["libtbwal_core_la_SOURCES"] if s.endswith(".c")]
        self.assertTrue(want)
        self.assertEqual(self.lists["core"], want)

    def test_lmdb_sources_and_defines_match(self):
        v = make_vars("libtbwal_lmdb_la_SOURCES", "libtbwal_lmdb_la_CPPFLAGS", "libtbwal_lmdb_la_CFLAGS")
        self.assertEqual(self.lists["lmdb"], [s for s in v["libtbwal_lmdb_la_SOURCES"] if s.endswith(".c")])
        defs = [f for f in v["libtbwal_lmdb_la_CPPFLAGS"] + v["libtbwal_lmdb_la_CFLAGS"] if f.startswith("-D")]
        self.assertEqual(self.lists["lmdb_defines"], defs)

    def test_each_installed_tool_is_built_in_from_its_sources(self):
        progs = make_vars("bin_PROGRAMS")["bin_PROGRAMS"]
        names = sorted(os.path.basename(p) for p in progs)
        self.assertEqual(sorted(self.lists["tools"]), names)
        v = make_vars(*[re.sub(r"[^A-Za-z0-9_]", "_", p) + "_SOURCES" for p in progs])
        for p in progs:
            srcs = [s for s in v[re.sub(r"[^A-Za-z0-9_]", "_", p) + "_SOURCES"] if s.endswith(".c")]
            self.assertEqual(self.lists["tools"][os.path.basename(p)], srcs, p)

    def test_every_listed_file_exists_and_ships_in_the_sdist(self):
        with open(os.path.join(SRC, "MANIFEST.in")) as f:
            manifest = f.read()
        files = self.lists["core"] + self.lists["lmdb"] + [s for v in self.lists["tools"].values() for s in v]
        pats = [p for line in manifest.splitlines() if line.startswith("include ")
                for p in line.split()[1:]]
        for rel in files:
            self.assertTrue(os.path.isfile(os.path.join(SRC, rel)), rel)
            # MANIFEST.in's "include" globs: one path segment per "*" (as
            # setuptools matches them), so src/*/*.c takes src/base/error.c.
            seg = [p for p in pats if p.count("/") == rel.count("/") and fnmatch.fnmatch(rel, p)]
            self.assertTrue(seg, "%s is in no 'include' line of MANIFEST.in" % rel)

    def test_one_version_number(self):
        with open(os.path.join(SRC, "include", "tbwal.h")) as f:
            h = re.search(r'#define TBW_VERSION_STRING "([^"]+)"', f.read()).group(1)
        self.assertEqual(self.setup.version(), h)
        sh = subprocess.run(["sh", os.path.join(SRC, "scripts", "version.sh")], check=True,
                            stdout=subprocess.PIPE, text=True).stdout.strip()
        self.assertEqual(sh, h)
        with open(os.path.join(BUILD, "config.h")) as f:
            conf = re.search(r'#define PACKAGE_VERSION "([^"]+)"', f.read()).group(1)
        self.assertEqual(conf, h, "configure's version (AC_INIT) is not include/tbwal.h's")


if __name__ == "__main__":
    unittest.main(verbosity=2)
