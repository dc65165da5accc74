"""python -m cachewatch run [options] [--] script.py args | -m module args

Runs a program under cachewatch. Every option of the option table is a
command-line flag (--max-frames 16, --native-stacks 1); --watch may be given
many times. Exit status: the program's own, or the exitcode option (66) when
races were reported and the program itself succeeded."""
import argparse
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
    if program and program[0] == "--":
        program = program[1:]
    if args.module is None and not program:
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

    status = 0
    try:
        if args.module is not None:
            sys.argv = [args.module] + program
            runpy.run_module(args.module, run_name="__main__", alter_sys=True)
        else:
            sys.argv = program
            sys.path.insert(0, os.path.dirname(os.path.abspath(program[0])))
            runpy.run_path(program[0], run_name="__main__")
    except SystemExit as exc:
        status = _exit_status(exc.code)
    except BaseException:
        import traceback
        traceback.print_exc()
        status = 1
    return finish(status)


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


def merge_reports(paths, out):
    from . import merge

    reports = []
    for path in paths:
        try:
            reports.append(merge.load(path))
        except (OSError, ValueError) as exc:
            sys.stderr.write(f"cachewatch: cannot read report {path}: {exc}\n")
            return 2
    findings = merge.merge(reports)
    for finding in findings:
        print("\n".join(merge.describe(finding)))
    if out:
        merge.write(out, findings)
    print(report.summary_of(findings))
    return 66 if findings else 0


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args)
    if args.command == "options":
        print(options_markdown())
        return 0
    if args.command == "report":
        return merge_reports(args.files, args.out)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
