"""Runs inside the interpreter under test: loads CPython test names with
unittest and appends one JSON line per outcome to --out as it goes, so a
crash or a hang still leaves the outcomes seen so far.

Standalone on purpose (stdlib only, no import of the harness or of
cachewatch): it must run the same way under the venv's python and Debian's
/usr/bin/python3, and importing cachewatch itself would change the plain run."""
import argparse
import faulthandler
import json
import os
import sys
import traceback
import unittest

# Outcome words; the harness compares these and nothing else.
PASS, FAIL, ERROR, SKIP, XFAIL, XPASS = "pass", "fail", "error", "skip", "xfail", "xpass"


class RecordingResult(unittest.TestResult):
    """Keeps id -> outcome and writes every outcome line at once."""

    def __init__(self, out):
        super().__init__()
        self.out = out
        self.outcomes = {}

    def _record(self, test, outcome, err=None):
        test_id = test.id()
        # A test with a failing subtest gets no addSuccess; it must not read
        # as passed, and its first failure wins over later successes.
        if self.outcomes.get(test_id) in (FAIL, ERROR) and outcome == PASS:
            return
        self.outcomes[test_id] = outcome
        line = {"id": test_id, "outcome": outcome}
        if err is not None:
            # Enough to tell one failure from another when reading a diff.
            line["detail"] = "".join(traceback.format_exception_only(err[0], err[1]))[-400:]
        self.out.write(json.dumps(line) + "\n")
        self.out.flush()

    def startTest(self, test):
        super().startTest(test)
        # Say which test is running, so a hang or a crash can be pinned on it.
        self.out.write(json.dumps({"started": test.id()}) + "\n")
        self.out.flush()

    def addSuccess(self, test):
        super().addSuccess(test)
        self._record(test, PASS)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, FAIL, err)

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, ERROR, err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._record(test, SKIP)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._record(test, XFAIL)

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._record(test, XPASS)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            # The subtest and its parent both fail; outcome keyed by both ids.
            kind = FAIL if issubclass(err[0], test.failureException) else ERROR
            self._record(subtest, kind, err)
            self._record(test, kind, err)


def cachewatch_state():
    """Was cachewatch running here, and what did it hold? Read only if the
    start-up hook already loaded it: never load it in a plain run."""
    core = sys.modules.get("cachewatch._cachewatch")
    if core is None:
        return {"loaded": False}
    return {"loaded": True, "active": bool(core.is_active()), "stats": core.stats()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--timeout", type=float, default=0,
                        help="dump every thread's stack and exit after this many seconds")
    parser.add_argument("--watch-dicts", action="append", default=[], metavar="MODULE",
                        help="watch every dict this test module builds (dictwatch.py)")
    parser.add_argument("names", nargs="+")
    args = parser.parse_args()
    # A crash prints every thread's Python stack (in both modes alike).
    faulthandler.enable()
    if args.timeout:
        # A hang shows where it is stuck instead of just being killed.
        faulthandler.dump_traceback_later(args.timeout, exit=True)
    shim = None
    if args.watch_dicts:
        import dictwatch  # next to this file

        shim = dictwatch.install(args.watch_dicts)
    with open(args.out, "w") as out:
        result = RecordingResult(out)
        try:
            suite = unittest.defaultTestLoader.loadTestsFromNames(args.names)
        except Exception:
            out.write(json.dumps({"load_error": traceback.format_exc()[-2000:]}) + "\n")
            return 3
        # Tests that read sys.argv (a few do) see what `-m unittest` gives.
        sys.argv[1:] = []
        suite.run(result)
        summary = {"done": True, "run": result.testsRun, "cachewatch": cachewatch_state()}
        if shim is not None:
            summary["dictwatch"] = shim.counts()
        out.write(json.dumps(summary) + "\n")
        out.flush()
    faulthandler.cancel_dump_traceback_later()
    return 0


if __name__ == "__main__":
    # The tests' own threads may outlive the run; the exit status is ours.
    sys.exit(main())
