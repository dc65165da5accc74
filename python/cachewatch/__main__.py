"""python -m cachewatch run [options] [--] script.py args | -m module args

Runs a program under cachewatch. Every option of the option table is a
command-line flag (--max-frames 16, --native-stacks 1); --watch may be given
many times. Everything from the script or `-m module` on belongs to the
program, as with `python -m`. Exit status: the program's own, or the
exitcode option (66) when races were reported and the program itself
succeeded. A failing program's traceback starts at its own code."""
import argparse
import json
import os
import runpy
import sys

from . import _cachewatch, _options, report


def _flag(name):
    return "--" + name.replace("_", "-")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m cachewatch",
        description="A runtime concurrency checker for Python programs.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a program under cachewatch",
                         description="Run a Python program under cachewatch.")
    for name, type_, default, help_ in _options.table():
        help_ = help_.replace("%", "%%")  # argparse %-formats help ("%p becomes the pid")
        if name == "watch":
            run.add_argument("--watch", action="append", default=[], metavar="MODULE:NAME",
                             help=help_ + " May be repeated.")
        elif name == "json_path":
            run.add_argument("--json", dest="json_path", metavar="PATH", help=help_)
        elif name in ("sarif_path", "html_path"):
            run.add_argument("--" + name[:-5], dest=name, metavar="PATH", help=help_)
        else:
            metavar = {"bool": "0|1", "int": "N", "str": "TEXT"}[type_]
            run.add_argument(_flag(name), dest=name, metavar=metavar,
                             help=f"{help_} (default {default})")
    sub.add_parser("options", help="print the option table (Markdown)")
    merge = sub.add_parser("report", help="merge JSON reports of several processes",
                           description="Merge per-process JSON reports into one "
                                       "de-duplicated report.")
    merge.add_argument("files", nargs="+", metavar="FILE")
    merge.add_argument("--json", dest="out", metavar="PATH", help="write the merged report here")
    merge.add_argument("--sarif", dest="sarif_out", metavar="PATH",
                       help="write the merged report as SARIF 2.1.0 here")
    merge.add_argument("--html", dest="html_out", metavar="PATH",
                       help="write the merged report as one self-contained HTML page here")
    merge.add_argument("--format", choices=("text", "sarif", "html"), default="text",
                       help="what to print: a few lines per finding, the SARIF log or the "
                            "HTML page")
    merge.add_argument("--baseline", metavar="OLD.json", default=None,
                       help="keep only the findings this earlier report does not have (by "
                            "category, target, files and functions: lines may move)")
    merge.add_argument("--srcroot", metavar="DIR", default=None,
                       help="SARIF paths are relative to this directory, and HTML reads "
                            "source lines under it (default: the current one)")
    run.add_argument("-m", dest="module", metavar="MODULE",
                     help="run a library module as a script, like python -m")
    run.add_argument("program", nargs=argparse.REMAINDER,
                     help="the script and its arguments")
    return parser


def _options_from(args):
    opts = {}
    for name, _type, _default, _help in _options.table():
        if name in ("watch",):
            continue
        value = getattr(args, name, None)
        if value is not None:
            opts[name] = value
    return opts


def split_run_args(args):
    """cachewatch's options, the module (or None) and the program's argv:
    everything from the script or `-m module` on is the program's."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return args[:i], None, args[i + 1:]
        if arg == "-m":
            return args[:i], (args[i + 1] if i + 1 < len(args) else ""), args[i + 2:]
        if arg.startswith("-m") and not arg.startswith("--"):
            return args[:i], arg[2:], args[i + 1:]
        if not arg.startswith("-"):
            return args[:i], None, args[i:]
        # Each option of ours takes a value, but --help and --opt=value.
        i += 1 if arg in ("-h", "--help") or "=" in arg else 2
    return args, None, []


def _exit_status(code):
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def run(args):
    import cachewatch

    program = list(args.program)
    if args.module == "" or (args.module is None and not program):
        sys.stderr.write("cachewatch: nothing to run (give a script or -m module)\n")
        return 2
    if args.module is None and not os.path.exists(program[0]):
        sys.stderr.write(f"cachewatch: no such script: {program[0]}\n")
        return 2
    try:
        cachewatch.start(_options_from(args), watch=args.watch)
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"cachewatch: {exc}\n" if not str(exc).startswith("cachewatch")
                         else f"{exc}\n")
        return 2
    if not cachewatch.is_active():
        return 2  # it could not start and said why: nothing to run unchecked

    status = 0
    try:
        if args.module is not None:
            if "" not in sys.path and os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())  # as python -m does
            if not _module_exists(args.module):
                cachewatch.stop(quiet=True)
                sys.stderr.write(f"cachewatch: no module named {args.module}\n")
                return 1
            sys.argv = [args.module] + program
            runpy.run_module(args.module, run_name="__main__", alter_sys=True)
        else:
            sys.argv = program
            sys.path.insert(0, os.path.dirname(os.path.abspath(program[0])))
            runpy.run_path(program[0], run_name="__main__")
    except SystemExit as exc:
        status = _exit_status(exc.code)
    except BaseException as exc:  # noqa: BLE001 - the program's own failure
        _print_program_traceback(exc)
        status = 1
    return finish(status)


def _module_exists(name):
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _print_program_traceback(exc):
    """As python would print it: from the program's first frame, without
    ours or runpy's in front."""
    import traceback

    ours = {os.path.abspath(__file__), os.path.abspath(runpy.__file__), "<frozen runpy>"}
    tb = exc.__traceback__
    while tb is not None and (tb.tb_frame.f_code.co_filename in ours or
                              os.path.abspath(tb.tb_frame.f_code.co_filename) in ours):
        tb = tb.tb_next
    sys.stderr.write("".join(traceback.format_exception(type(exc), exc, tb)))


def finish(status):
    sys.stdout.flush()
    import cachewatch

    cachewatch.stop()
    items = report.findings()
    opts = _cachewatch.options()
    sys.stderr.write(report.summary_line(items) + "\n")
    failing = [f for f in items if report.counts(f, opts.get("fail_on"))]
    if failing and status == 0 and opts.get("exitcode"):
        return int(opts["exitcode"])
    return status


def options_markdown():
    lines = ["| option | type | default | meaning |", "|---|---|---|---|"]
    for name, type_, default, help_ in _options.table():
        shown = default.strip(chr(34)).replace("|", "\\|") or chr(34) * 2  # | would end the cell
        lines.append(f"| `{name}` | {type_} | `{shown}` | {help_} |")
    return "\n".join(lines)


def merge_reports(paths, out, sarif_out=None, print_format="text", srcroot=None,
                  baseline=None, html_out=None):
    from . import html, merge, sarif

    reports = []
    for path in paths + ([baseline] if baseline else []):
        try:
            reports.append(merge.load(path))
        except (OSError, ValueError) as exc:
            sys.stderr.write(f"cachewatch: cannot read report {path}: {exc}\n")
            return 2
    if srcroot is not None and not os.path.isdir(srcroot):
        sys.stderr.write(f"cachewatch: --srcroot {srcroot}: no such directory\n")
        return 2
    findings = merge.merge(reports[:len(paths)])
    if baseline:
        root = srcroot or os.getcwd()
        known = {merge.fingerprint(f, root) for f in reports[-1]["findings"]}
        findings = [f for f in findings if merge.fingerprint(f, root) not in known]
    suppressed = merge.merge(reports[:len(paths)], "suppressed")
    if print_format == "sarif":
        print(json.dumps(sarif.to_sarif(findings, srcroot, suppressed=suppressed), indent=2))
    elif print_format == "html":
        sys.stdout.write(html.to_html(findings, srcroot))
    else:
        for finding in findings:
            print("\n".join(merge.describe(finding)))
    for path, writer in ((out, merge.write),
                         (sarif_out, lambda p, f: sarif.write(p, f, srcroot, suppressed)),
                         (html_out, lambda p, f: html.write(p, f, srcroot))):
        if path:
            try:
                writer(path, findings)
            except OSError as exc:
                sys.stderr.write(f"cachewatch: cannot write {path}: {exc.strerror or exc}\n")
                return 2
    if print_format == "text":
        print(report.summary_of(findings))
    return 66 if findings else 0


def main(argv=None):
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["run"]:
        ours, module, program = split_run_args(argv[1:])
        args = parser.parse_args(["run"] + ours)
        args.module, args.program = module, program
        return run(args)
    args = parser.parse_args(argv)
    if args.command == "options":
        print(options_markdown())
        return 0
    if args.command == "report":
        return merge_reports(args.files, args.out, args.sarif_out, args.format, args.srcroot,
                             args.baseline, args.html_out)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
