"""setup.py -- build the tbwal Python package straight from the C sources.

    pip install .                 (pyproject.toml names setuptools as the backend)

No autotools, no configure, no earlier build: the extension tbwal._tbwal is
compiled from python/_tbwal.c, every C module of the library (src/), the
vendored LMDB (third_party/lmdb) and the command-line tools (tools/, each
with its main() renamed, so `tbrecover` & co. run inside the extension), and
linked with the system's zlib (-lz). It uses the stable ABI
(Py_LIMITED_API 3.9): one cp39-abi3 wheel serves every CPython >= 3.9.

The C source lists live in ONE place, the automake fragments mk/*.am (see
doc/packaging.md): this file reads the `libtbwal_core_la_SOURCES += ...`,
`libtbwal_lmdb_la_*`, `bin_PROGRAMS += tools/X` and `tools_X_SOURCES` lines
out of them, in Makefile.am's include order, so a module or a tool file added
to a fragment is built by both. tests/packaging/test_sources.py checks the
lists agree with what automake builds.

configure's config.h is not used: the macros the sources need from it are
written to a private config.h in the build directory (config_h() below).
setuptools' build directory is .pybuild/, never the autotools build/; a tree
configured in place (./configure && make at the top) does not disturb it.
The version is TBW_VERSION_STRING in include/tbwal.h (the only copy).
"""
import glob
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

TOP = os.path.dirname(os.path.abspath(__file__))
BUILD_BASE = ".pybuild"       # setuptools' build tree (the autotools one is build/)
LIMITED_API = 0x03090000      # the stable ABI of CPython 3.9


def _read(rel):
    with open(os.path.join(TOP, rel), encoding="utf-8") as f:
        return f.read()


def version():
    """TBW_VERSION_STRING from include/tbwal.h: the project's one version number."""
    m = re.search(r'^#define\s+TBW_VERSION_STRING\s+"([^"]+)"', _read("include/tbwal.h"), re.M)
    if not m:
        sys.exit("tbwal setup: no TBW_VERSION_STRING in include/tbwal.h")
    return m.group(1)


def am_assignments():
    """(name, op, words) of every variable assignment in Makefile.am and the
    fragments it includes, in automake's order. Continuation lines joined,
    comments dropped; conditionals (if/endif) are not expanded, so only
    unconditional assignments are returned."""
    out = []

    def parse(rel):
        text = _read(rel).replace("\\\n", " ")
        depth = 0
        for line in text.splitlines():
            line = line.split("#", 1)[0].rstrip()
            if re.match(r"^if\s", line):
                depth += 1
                continue
            if line.strip() == "endif":
                depth -= 1
                continue
            m = re.match(r"^include\s+(\S+)$", line)
            if m:
                parse(m.group(1))
                continue
            m = re.match(r"^([A-Za-z0-9_]+)\s*(\+?=)\s*(.*)$", line)
            if m and depth == 0:
                out.append((m.group(1), m.group(2), m.group(3).split()))

    parse("Makefile.am")
    return out


def am_var(assigns, name, _seen=()):
    """The words of variable name, with whole-word $(VAR) references expanded
    (configure substitutions, e.g. $(PTHREAD_CFLAGS), expand to nothing)."""
    words = []
    for n, op, w in assigns:
        if n == name:
            words = (words + w) if op == "+=" else list(w)
    out = []
    for w in words:
        m = re.match(r"^\$\(([A-Za-z0-9_]+)\)$", w)
        if m and m.group(1) not in _seen:
            out += am_var(assigns, m.group(1), _seen + (name,))
        elif not m:
            out.append(w)
    return out


def am_lists():
    """The build lists, from mk/*.am: core, lmdb and tool sources, lmdb flags."""
    a = am_assignments()
    core = [s for s in am_var(a, "libtbwal_core_la_SOURCES") if s.endswith(".c")]
    lmdb = [s for s in am_var(a, "libtbwal_lmdb_la_SOURCES") if s.endswith(".c")]
    lmdb_flags = [f for f in am_var(a, "libtbwal_lmdb_la_CPPFLAGS") + am_var(a, "libtbwal_lmdb_la_CFLAGS")
                  if f.startswith("-D")]
    tools = {}
    for prog in am_var(a, "bin_PROGRAMS"):
        canon = re.sub(r"[^A-Za-z0-9_]", "_", prog)
        srcs = [s for s in am_var(a, canon + "_SOURCES") if s.endswith(".c")]
        if not srcs:
            srcs = [prog + ".c"]   # automake's default
        tools[os.path.basename(prog)] = srcs
    return {"core": core, "lmdb": lmdb, "lmdb_defines": lmdb_flags, "tools": tools}


def config_h(ver):
    """The macros the sources take from configure's config.h (see doc/packaging.md):
    AC_USE_SYSTEM_EXTENSIONS (_GNU_SOURCE and friends), AC_SYS_LARGEFILE, and the
    package name and version; nothing in src/ or tools/ tests any HAVE_* macro."""
    return "\n".join([
        "/* config.h -- written by setup.py for the pip build (configure's is not used). */",
        "#ifndef TBW_PIP_CONFIG_H",
        "#define TBW_PIP_CONFIG_H",
        "#ifndef _GNU_SOURCE",
        "# define _GNU_SOURCE 1",
        "#endif",
        "#ifndef _ALL_SOURCE",
        "# define _ALL_SOURCE 1",
        "#endif",
        "#ifndef _POSIX_PTHREAD_SEMANTICS",
        "# define _POSIX_PTHREAD_SEMANTICS 1",
        "#endif",
        "#ifndef __EXTENSIONS__",
        "# define __EXTENSIONS__ 1",
        "#endif",
        "#ifndef _FILE_OFFSET_BITS",
        "# define _FILE_OFFSET_BITS 64",
        "#endif",
        '#define PACKAGE "tbwal"',
        '#define PACKAGE_NAME "tbwal"',
        '#define PACKAGE_VERSION "%s"' % ver,
        '#define VERSION "%s"' % ver,
        "#endif",
        ""])


def _c_ident(name):
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def write_if_changed(path, text):
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except OSError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def generate(gen_dir, lists, ver):
    """Write gen_dir/config.h, one wrapper per tool source (main renamed) and
    gen_dir/tbw_tools.h (the table _tbwal._run_tool dispatches on); return the
    wrapper files."""
    write_if_changed(os.path.join(gen_dir, "config.h"), config_h(ver))
    wrappers, table = [], []
    for tool, srcs in sorted(lists["tools"].items()):
        fn = "tbw_tool_%s_main" % _c_ident(tool)
        for src in srcs:
            w = os.path.join(gen_dir, "tool_%s__%s" % (_c_ident(tool), os.path.basename(src)))
            write_if_changed(w, "/* generated by setup.py: %s inside the extension */\n"
                                "#define main %s\n#include \"%s\"\n"
                             % (src, fn, os.path.join(TOP, src).replace("\\", "/")))
            wrappers.append(w)
        table.append(fn)
    hdr = ["/* tbw_tools.h -- generated by setup.py: the tools built into _tbwal. */"]
    hdr += ["int %s(int argc, char **argv);" % fn for fn in table]
    hdr.append("#define TBW_TOOLS_TABLE \\")
    hdr += ['\t{ "%s", %s }, \\' % (t, "tbw_tool_%s_main" % _c_ident(t)) for t in sorted(lists["tools"])]
    hdr.append("")
    write_if_changed(os.path.join(gen_dir, "tbw_tools.h"), "\n".join(hdr) + "\n")
    return wrappers


class BuildExt(build_ext):
    """Generates the private headers, then compiles the sources in parallel
    (-j N / --parallel N, or $TBW_BUILD_JOBS; default: min(2, CPUs))."""

    def run(self):
        ver = version()
        lists = am_lists()
        gen_dir = os.path.join(os.path.abspath(self.build_temp), "tbwal-gen")
        wrappers = generate(gen_dir, lists, ver)
        for ext in self.extensions:
            ext.sources = list(ext.sources) + [w for w in wrappers if w not in ext.sources]
            if gen_dir not in ext.include_dirs:
                ext.include_dirs = [gen_dir] + list(ext.include_dirs)
            ext.depends = list(ext.depends) + [os.path.join(gen_dir, "config.h"),
                                               os.path.join(gen_dir, "tbw_tools.h")]
        super().run()

    def build_extension(self, ext):
        jobs = self.parallel if isinstance(self.parallel, int) and self.parallel > 0 else 0
        if not jobs:
            jobs = int(os.environ.get("TBW_BUILD_JOBS", "0") or 0) or min(2, os.cpu_count() or 1)
        orig = self.compiler.compile

        def compile_parallel(sources, output_dir=None, macros=None, include_dirs=None, debug=0,
                             extra_preargs=None, extra_postargs=None, depends=None):
            def one(src):
                return orig([src], output_dir=output_dir, macros=macros, include_dirs=include_dirs,
                            debug=debug, extra_preargs=extra_preargs,
                            extra_postargs=_per_file_flags(src) + list(extra_postargs or []),
                            depends=depends)
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                return [o for objs in pool.map(one, sources) for o in objs]

        self.compiler.compile = compile_parallel
        try:
            super().build_extension(ext)
        finally:
            self.compiler.compile = orig


LISTS = am_lists()
LMDB_FLAGS = ["-O2", "-w"] + LISTS["lmdb_defines"]   # as mk/lmdb.am: third-party code, no warnings
CORE_FLAGS = ["-std=gnu11", "-fvisibility=hidden", "-pthread"]


def _per_file_flags(src):
    rel = src.replace("\\", "/")
    if any(rel.endswith(s) for s in LISTS["lmdb"]):
        return LMDB_FLAGS
    return []


def main():
    setup(**setup_args())


def setup_args():
    """setup()'s arguments; the metadata is in pyproject.toml."""
    return dict(
        version=version(),
        packages=["tbwal"],
        package_dir={"tbwal": "python/tbwal"},
        ext_modules=[Extension(
            "tbwal._tbwal",
            sources=["python/_tbwal.c"] + LISTS["core"] + LISTS["lmdb"],
            include_dirs=["include", "src", "third_party/lmdb"],
            define_macros=[("Py_LIMITED_API", "0x%08X" % LIMITED_API), ("TBW_HAVE_TOOLS", "1")],
            extra_compile_args=CORE_FLAGS,
            # -s: the library is compiled into the extension; its internal
            # (hidden, tbw__) symbols leave the symbol table, as in a
            # stripped release wheel, so nm on the installed extension shows
            # only the dynamic symbols (tests/packaging/run.sh). The front
            # end's own use of tbwal.h alone is checked by make check
            # (tests/installed_symbols.sh, on the extension linked to libtbwal).
            extra_link_args=["-pthread", "-Wl,-s"],
            libraries=["z", "m"],
            depends=["include/tbwal.h"] + sorted(
                os.path.relpath(h, TOP) for h in glob.glob(os.path.join(TOP, "src", "*", "*.h"))),
            py_limited_api=True,
        )],
        # One console script per tool: tbrecover = tbwal.__main__:run_tbrecover, ...
        entry_points={"console_scripts": ["%s = tbwal.__main__:run_%s" % (t, _c_ident(t))
                                          for t in sorted(LISTS["tools"])]},
        cmdclass={"build_ext": BuildExt},
        options={
            "build": {"build_base": BUILD_BASE},
            "bdist_wheel": {"py_limited_api": "cp39"},
        },
        zip_safe=False,
    )


if __name__ == "__main__":   # also how setuptools.build_meta runs this file
    main()
