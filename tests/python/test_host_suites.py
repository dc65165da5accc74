"""cachewatch must not change what CPython's own test suites compute: each
suite runs plain and with cachewatch started by CACHEWATCH_OPTIONS (its test
module and the library modules it exercises watched), and every test must
have the same outcome both times; test_dict also runs with the dicts it
builds watched. The default run takes subsets (see tests/host/suites.py);
CACHEWATCH_FULL=1 runs the complete suites. The runner is tests/host/."""
import os
import subprocess
import sys
import warnings

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from host import allowlist, compare, launch, runner, suites  # noqa: E402

FULL = os.environ.get("CACHEWATCH_FULL", "") not in ("", "0")


def _skip_if_not_shipped(suite):
    if suite.system_python and not os.path.exists(suite.python):
        pytest.skip(f"{suite.python} is not installed")
    if suite.test_file() is None:
        pytest.skip(f"{suite.module} is not shipped with {suite.python} "
                    "(Debian: libpython3.11-testsuite)")


def _check(verdict):
    print(verdict.text())
    for test_id, a, b, reason in verdict.excused:
        if reason.startswith(allowlist.KNOWN_BUG):
            warnings.warn(f"{verdict.suite} ({verdict.mode}) {test_id}: {reason}")
    assert verdict.ok(), verdict.text()


# ---- the comparison itself must be able to fail ----------------------------

def test_compare_reports_every_kind_of_difference():
    plain = {"a": "pass", "b": "fail", "c": "skip", "d": "pass"}
    watched = {"a": "pass", "b": "pass", "c": "error", "e": "pass"}
    assert compare.differences(plain, watched) == [
        ("b", "fail", "pass"), ("c", "skip", "error"),
        ("d", "pass", compare.MISSING), ("e", compare.MISSING, "pass")]
    assert compare.differences(plain, dict(plain)) == []


def test_allow_list_excuses_only_the_exact_change_and_flags_stale_entries():
    diffs = [("t1", "pass", "fail"), ("t2", "pass", "error")]
    allowed = {"t1": ("pass", "fail", "why"), "t2": ("pass", "fail", "why"),
               "t3": ("pass", "fail", "why")}
    unexplained, excused, stale = compare.split_allowed(diffs, allowed)
    assert unexplained == [("t2", "pass", "error")]   # fail was allowed, error was not
    assert excused == [("t1", "pass", "fail", "why")]
    assert stale == ["t3"]


def test_rerun_names():
    assert compare.rerun_name("test.test_x.C.test_y (i=1)") == "test.test_x.C.test_y"
    assert compare.rerun_name("setUpClass (test.test_x.C)") == "test.test_x.C"
    assert compare.rerun_name("test.test_x.C.test_y") == "test.test_x.C.test_y"


def test_a_real_divergence_fails_the_comparison():
    """test_dict with its own dicts watched and no allow-list: the harness
    sees the differences a watched dict makes and refuses the run."""
    suite = suites.by_name("test_dict")
    verdict = runner.compare_suite(suite, mode="dicts", full=True, allowed={}, rerun=False)
    assert not verdict.ok()
    assert verdict.divergences, verdict.text()


def test_a_crashing_watched_run_is_a_problem_not_a_pass(tmp_path):
    """A run that dies (here: a test module that kills its process) leaves
    tests missing and is reported, never compared as equal."""
    run = launch.Run("x", "watched", [], returncode=-11, last_started="t")
    assert any("exit status -11" in p for p in run.problems())
    assert any("did not finish" in p for p in run.problems())


# ---- the suites --------------------------------------------------------------

@pytest.mark.parametrize("name", [s.name for s in suites.SUITES])
def test_suite_outcomes_unchanged_by_cachewatch(name):
    suite = suites.by_name(name)
    _skip_if_not_shipped(suite)
    verdict = runner.compare_suite(suite, mode="watched", full=FULL,
                                   allowed=allowlist.allowed(name, "watched"))
    assert verdict.compared >= 40, verdict.text()
    _check(verdict)


def test_dict_suite_with_its_own_dicts_watched():
    suite = suites.by_name("test_dict")
    verdict = runner.compare_suite(suite, mode="dicts", full=True,
                                   allowed=allowlist.allowed("test_dict", "dicts"))
    counts = (verdict.other.summary or {}).get("dictwatch", {})
    print("dicts watched:", counts)
    assert counts.get("refused") == 0, counts
    # Most of the suite's dicts: over a thousand, from some 200 source lines.
    assert counts.get("watched", 0) >= 1000 and counts.get("sites", 0) >= 150, counts
    _check(verdict)


# ---- known bugs found by this harness, kept visible --------------------------

def _run_env(code, options):
    env = launch.child_env(suites.by_name("test_dict"), "plain", None, None)
    env["CACHEWATCH_OPTIONS"] = options
    return subprocess.run([suites.VENV_PYTHON, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60)


def test_watching_copy_or_copyreg_leaves_pickle_importable():
    """Regression: _pickle takes copyreg's tables only as exact dicts, so
    'module:*' leaves them unwatched."""
    proc = _run_env("import copy, pickle; print(pickle.loads(pickle.dumps({1: [2]})))",
                    "watch=copy:*,copyreg:* exitcode=0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "{1: [2]}\n"


def test_fork_after_a_subinterpreter_survives():
    """Regression: found by test_threading (SubinterpThreadingTests, then a
    fork with threads running) segfaulting the watched run; fixed in ext/."""
    code = ("import _testcapi, os\n"
            "_testcapi.run_in_subinterp('pass')\n"
            "pid = os.fork()\n"
            "if pid == 0: os._exit(0)\n"
            "os.waitpid(pid, 0)\n")
    proc = _run_env(code, "exitcode=0")
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
