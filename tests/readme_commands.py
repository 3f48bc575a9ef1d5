"""readme_commands.py -- run every command README.md shows, so the README
cannot silently stop working (a stage of .ci/run; see tests/readme_commands.sh).

What it runs, in the README's order:
  - Quick start: the block must hold exactly two commands. The second must be
    the command .ci/run runs first (CI already runs it verbatim; running it
    here again would double CI's time). The first (./scripts/demo.sh) is run
    for real from the top of the tree, unless --skip-demo.
  - Every other ```sh block: with `sh -e`, from a scratch copy of the top of
    the tree (a directory of symlinks to the real entries, so commands that
    create runs/ or drive/ leave the tree alone), with build/tools and build
    on PATH.
  - Every ```python block (the Colab cells): with Debian's /usr/bin/python3,
    from the same directory. A line ending in the marker `# colab-only` needs
    Colab (drive.mount) and is skipped, and said so; so is a whole block whose
    first line is a comment starting with the marker (the %tensorboard cell).
    `%pip install ARGS` runs `python3 -m pip install ARGS`; any other
    IPython-only line (%magic) outside a colab-only block is an error, and so
    is a line magic followed by a comment anywhere (IPython would pass the
    comment to the magic). A line starting with `!` is a shell command, run
    with sh. Paths: /content/tbwal is the tree (the scratch copy), the rest of
    /content is a scratch directory, so /content/drive/MyDrive is a plain
    folder standing in for Drive.
  - Every ```c block: compiled against include/ and build/.libs/libtbwal.so,
    then run.
  - ```text blocks are output, not commands.
Pip installs go to a scratch venv made from Debian's python3 (whose bin/
comes first on PATH, so `tbrecover` is the pip-installed tool), never into
the system's site-packages; build isolation fetches setuptools from PyPI, as
for a user.

Then examples/colab_tbwal.ipynb: valid nbformat 4 JSON (checked by hand, and
by the nbformat package if it is installed), and no line magic with a
comment. Its cells are executed under a real Jupyter kernel by
tests/packaging/run_notebook.py (a stage of scripts/test.sh), not here.

    /usr/bin/python3 tests/readme_commands.py [--skip-demo]
Exit status 0 when everything ran and exited 0; 1 otherwise.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(TOP, "build")
PY = "/usr/bin/python3"
MARK = "# colab-only"
TIMEOUT = 600

failures = []


def say(msg):
    print(msg, flush=True)


def fail(what):
    failures.append(what)
    say("FAIL: " + what)


def blocks(md):
    """(language, text, line number, section title) of each fenced block."""
    out, lang, buf, start, section = [], None, [], 0, ""
    for n, line in enumerate(md.splitlines(), 1):
        if lang is None:
            if line.startswith("## "):
                section = line[3:].strip()
            m = re.match(r"^```(\w*)", line)
            if m:
                lang, buf, start = m.group(1) or "none", [], n
        elif line.startswith("```"):
            out.append((lang, "\n".join(buf) + "\n", start, section))
            lang = None
        else:
            buf.append(line)
    if lang is not None:
        fail("README.md: fenced block at line %d is never closed" % start)
    return out


def commands(text):
    """Non-empty, non-comment shell lines with trailing comments removed."""
    out = []
    for line in text.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def run(cmd, what, cwd, env, shell=False):
    say("+ %s" % (cmd if isinstance(cmd, str) else " ".join(cmd)))
    try:
        r = subprocess.run(cmd, cwd=cwd, env=env, shell=shell, timeout=TIMEOUT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except subprocess.TimeoutExpired:
        fail("%s: timed out after %d s" % (what, TIMEOUT))
        return None
    tail = r.stdout.rstrip().splitlines()[-12:]
    for line in tail:
        say("    " + line)
    if r.returncode != 0:
        fail("%s: exit status %d" % (what, r.returncode))
    return r


def content_paths(text, top, content):
    return text.replace("/content/tbwal", top).replace("/content", content)


def python_script(src, what, top, content):
    """Turn a notebook/README cell into a plain Python script."""
    lines = ["import subprocess as _sp",
             "def _sh(c):",
             "    print('  ! ' + c, flush=True)",
             "    _sp.run(c, shell=True, check=True)"]
    first = src.strip().splitlines()[0].strip() if src.strip() else ""
    for n, line in enumerate(src.splitlines(), 1):
        if line.strip().startswith("%") and "#" in line:
            fail("%s line %d: a line magic followed by a comment (IPython passes the comment "
                 "to the magic; put it on its own line): %s" % (what, n, line.strip()))
    if first.startswith(MARK):
        say("    skip (colab-only block) %s: %s" % (what, first))
        return "\n".join(lines) + "\n"
    for n, line in enumerate(src.splitlines(), 1):
        s = line.strip()
        m = re.match(r"^%pip\s+(install\s.*)$", s)
        if m:
            indent = line[:len(line) - len(line.lstrip())]
            lines.append("%s_sh(%r)" % (indent, "%s -m pip %s" % (PY, content_paths(m.group(1), top, content))))
            continue
        if s.endswith(MARK):
            say("    skip (colab-only) %s line %d: %s" % (what, n, s[:-len(MARK)].strip()))
            continue
        if s.startswith("%") or "google.colab" in s:
            fail("%s line %d needs Colab but lacks the %r marker: %s" % (what, n, MARK, s))
            continue
        if s.startswith("!"):
            indent = line[:len(line) - len(line.lstrip())]
            lines.append("%s_sh(%r)" % (indent, content_paths(s[1:].strip(), top, content)))
        else:
            lines.append(content_paths(line, top, content))
    return "\n".join(lines) + "\n"


def run_python(src, what, top, content, env, scratch):
    path = os.path.join(scratch, "cell_%d.py" % len(os.listdir(scratch)))
    with open(path, "w") as f:
        f.write(python_script(src, what, top, content))
    run([PY, path], what, top, env)


def make_env(scratch):
    """The commands' environment: a scratch venv made from Debian's python3
    (its bin/ first on PATH, so `python3 -m pip install .` installs there and
    `tbrecover` is the pip-installed tool), then the built tools. Never the
    system's site-packages; build isolation fetches setuptools from PyPI, as
    for a user. (Not PIP_TARGET: pip hands it to its build-isolation
    subprocess, which then fails with "Cannot set --home and --prefix".)"""
    global PY
    venv = os.path.join(scratch, "venv")
    subprocess.run([PY, "-m", "venv", venv], check=True)
    PY = os.path.join(venv, "bin", "python3")
    env = dict(os.environ)
    for k in ("PIP_TARGET", "PIP_PREFIX", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(k, None)
    env["PATH"] = "%s:%s:%s:%s" % (os.path.join(venv, "bin"), os.path.join(BUILD, "tools"), BUILD,
                                   env.get("PATH", ""))
    env.update(VIRTUAL_ENV=venv, PIP_ROOT_USER_ACTION="ignore",
               PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def shadow_top(scratch):
    """A directory of symlinks to the tree's top-level entries."""
    top = os.path.join(scratch, "top")
    os.makedirs(top)
    for name in os.listdir(TOP):
        if name not in ("runs", "drive"):
            os.symlink(os.path.join(TOP, name), os.path.join(top, name))
    return top


def check_notebook(path, scratch, env):
    what = os.path.relpath(path, TOP)
    try:
        with open(path) as f:
            nb = json.load(f)
    except (OSError, ValueError) as e:
        fail("%s: not valid JSON: %s" % (what, e))
        return
    ok = nb.get("nbformat") == 4 and isinstance(nb.get("nbformat_minor"), int) \
        and isinstance(nb.get("metadata"), dict) and isinstance(nb.get("cells"), list)
    for i, c in enumerate(nb.get("cells", [])):
        t = c.get("cell_type")
        src = c.get("source")
        if t not in ("code", "markdown", "raw") or not isinstance(c.get("metadata"), dict) \
                or not (isinstance(src, str) or (isinstance(src, list) and all(isinstance(s, str) for s in src))):
            ok = False
            fail("%s: cell %d is malformed" % (what, i))
        if t == "code" and not (isinstance(c.get("outputs"), list) and "execution_count" in c):
            ok = False
            fail("%s: code cell %d lacks outputs or execution_count" % (what, i))
    if not ok:
        fail("%s: not a valid nbformat 4 notebook" % what)
        return
    try:
        import nbformat
    except ImportError:
        say("  (the nbformat package is not installed: structure checked by hand only)")
    else:
        try:
            nbformat.validate(nbformat.reads(json.dumps(nb), as_version=4))
            say("  nbformat.validate: ok")
        except Exception as e:  # noqa: BLE001 -- any validation error fails the check
            fail("%s: nbformat.validate: %s" % (what, e))
    for i, c in enumerate(nb["cells"]):
        src = c["source"] if isinstance(c["source"], str) else "".join(c["source"])
        for n, line in enumerate(src.splitlines(), 1):
            if c["cell_type"] == "code" and line.strip().startswith("%") and "#" in line:
                fail("%s cell %d line %d: a line magic followed by a comment: %s"
                     % (what, i, n, line.strip()))
    say("== %s: %d cells; tests/packaging/run_notebook.py executes them under a Jupyter "
        "kernel (scripts/test.sh)" % (what, len(nb["cells"])))


def main():
    skip_demo = "--skip-demo" in sys.argv[1:]
    with open(os.path.join(TOP, "README.md")) as f:
        md = f.read()
    bl = blocks(md)
    scratch = tempfile.mkdtemp(prefix="tbw-readme-")
    os.makedirs(os.path.join(scratch, "cells"))
    env = make_env(scratch)
    top = shadow_top(scratch)
    content = os.path.join(scratch, "content")
    os.makedirs(os.path.join(content, "drive", "MyDrive"))
    try:
        # Quick start.
        qs = [b for b in bl if b[3] == "Quick start" and b[0] == "sh"]
        if len(qs) != 1:
            fail("README.md: expected one sh block under '## Quick start', found %d" % len(qs))
            return 1
        cmds = commands(qs[0][1])
        if len(cmds) != 2:
            fail("README.md: the Quick start must be exactly two commands, found %r" % cmds)
            return 1
        with open(os.path.join(TOP, ".ci", "run")) as f:
            ci_first = next((line.strip() for line in f if line.startswith("./")), None)
        if cmds[1] != ci_first:
            fail("Quick start command 2 %r is not what .ci/run runs first (%r)" % (cmds[1], ci_first))
        else:
            say("== Quick start 2: %r is .ci/run's first command (CI runs it verbatim)" % cmds[1])
        if skip_demo:
            say("== Quick start 1: %r not run (--skip-demo)" % cmds[0])
        else:
            say("== Quick start 1: %s" % cmds[0])
            r = run(cmds[0], "Quick start 1 (%s)" % cmds[0], TOP, env, shell=True)
            if r is not None and r.returncode == 0 and "tensorboard --logdir" not in r.stdout:
                fail("Quick start 1: the demo did not say how to open TensorBoard")
        # The C example needs examples/log_scalars (a check program).
        run(["make", "-C", BUILD, "-s", "examples/log_scalars"], "make examples/log_scalars", TOP, env)

        for lang, text, line, section in bl:
            where = "README.md:%d (%s)" % (line, section)
            if (lang, text) == ("sh", qs[0][1]) or lang in ("text", "none"):
                continue
            if lang == "sh":
                say("== %s: sh" % where)
                run(["sh", "-ec", "set -x\n" + content_paths(text, top, content)], where, top, env)
            elif lang == "python":
                say("== %s: python (%s)" % (where, PY))
                run_python(text, where, top, content, env, os.path.join(scratch, "cells"))
            elif lang == "c":
                say("== %s: C program" % where)
                src = os.path.join(scratch, "readme_%d.c" % line)
                exe = src[:-2]
                with open(src, "w") as f:
                    f.write(text)
                libs = os.path.join(BUILD, ".libs")
                if run(["cc", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-I", os.path.join(TOP, "include"),
                        "-o", exe, src, "-L" + libs, "-ltbwal", "-Wl,-rpath," + libs],
                       where + " compile", top, env) is not None:
                    run([exe], where + " run", top, env)
            else:
                fail("%s: a ```%s block: the checker does not know how to run it" % (where, lang))
        check_notebook(os.path.join(TOP, "examples", "colab_tbwal.ipynb"), scratch, env)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if failures:
        say("\nreadme_commands: %d failure(s):" % len(failures))
        for f in failures:
            say("  " + f)
        return 1
    say("\nreadme_commands: every README command, snippet and notebook cell ran and exited 0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
