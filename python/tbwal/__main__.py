"""python -m tbwal TOOL [ARGS...] -- the command-line tools, from the package.

The tools (tbrecover, tbsync, tbcompact, tbstat, and every other program in
mk/*.am's bin_PROGRAMS) are compiled into the extension tbwal._tbwal by the
pip build, with their main() renamed; `pip install` also puts each on PATH
as a console script (run_<tool> below). Flags, output and exit codes are the
autotools-built programs' own: the same C code runs, with SIGINT and SIGPIPE
at their defaults, as in a C program.

    python -m tbwal tbrecover LOGDIR
    python -m tbwal tbstat --help
    python -m tbwal stat LOGDIR       (no tool named: the tbwal command, `tbwal stat LOGDIR`)
"""
import os
import sys

from . import _tbwal


def tools():
    """Names of the tools built into this installation (empty for the
    autotools-built module, which leaves them as separate programs)."""
    return tuple(getattr(_tbwal, "_TOOLS", ()))


def run(name, args):
    """Run tool `name` with argument list `args` (argv[1:]); return its exit status."""
    if name not in tools():
        raise ValueError("tbwal: no tool %r in this build (tools: %s)"
                         % (name, ", ".join(tools()) or "none: the autotools build installs "
                            "them as programs"))
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (AttributeError, OSError, ValueError):
            pass
    return _tbwal._run_tool(name, [name] + [os.fsdecode(a) if isinstance(a, bytes) else a
                                             for a in args])


def _entry(name):
    def main():
        sys.exit(run(name, sys.argv[1:]))
    main.__name__ = "run_" + name
    return main


def __getattr__(attr):
    # Console scripts: `tbrecover = tbwal.__main__:run_tbrecover`, one per tool.
    if attr.startswith("run_"):
        for t in tools():
            if "run_" + "".join(c if c.isalnum() else "_" for c in t) == attr:
                return _entry(t)
    raise AttributeError("module %r has no attribute %r" % (__name__, attr))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        out = sys.stdout if argv else sys.stderr
        print("usage: python -m tbwal TOOL [ARGS...]\n"
              "       python -m tbwal COMMAND [ARGS...]   (= tbwal COMMAND: recover, sync, compact,\n"
              "                                         stat, watch; tbwal --help)\ntools: %s\n"
              "Each tool takes --help." % (", ".join(tools()) or "none in this build"), file=out)
        return 0 if argv else 1
    if argv[0] not in tools() and "tbwal" in tools():
        return run("tbwal", argv)    # python -m tbwal stat LOGDIR: tbwal's subcommands, its errors
    if argv[0] not in tools():
        print("python -m tbwal: unknown tool %r (tools: %s)"
              % (argv[0], ", ".join(tools()) or "none in this build"), file=sys.stderr)
        return 1
    return run(argv[0], argv[1:])


if __name__ == "__main__":
    sys.exit(main())
