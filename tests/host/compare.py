"""Compares two per-test outcome maps (test id -> pass/fail/error/skip/...).

Pure functions on plain dicts, so the comparison itself can be tested with
made-up outcomes (a checker of checkers must be able to fail)."""
import re

MISSING = "missing"   # the test did not report in that run


def differences(plain, watched):
    """[(test id, plain outcome, watched outcome)] for every test whose
    outcome differs, including tests only one run reported."""
    diffs = []
    for test_id in sorted(set(plain) | set(watched)):
        a, b = plain.get(test_id, MISSING), watched.get(test_id, MISSING)
        if a != b:
            diffs.append((test_id, a, b))
    return diffs


def rerun_name(test_id):
    """The unittest name that runs this id again: a subtest's parent, a
    setUpClass error's class, a setUpModule error's module."""
    m = re.match(r"^(setUpClass|tearDownClass|setUpModule|tearDownModule) \((.+)\)$", test_id)
    if m:
        return m.group(2)
    return test_id.split(" ", 1)[0]


def split_allowed(diffs, allowed):
    """(unexplained diffs, allowed diffs, stale allow-list ids). allowed:
    test id -> (plain outcome, watched outcome, reason); an entry only
    excuses exactly that change."""
    unexplained, excused = [], []
    for diff in diffs:
        entry = allowed.get(diff[0])
        if entry is not None and (entry[0], entry[1]) == (diff[1], diff[2]):
            excused.append(diff + (entry[2],))
        else:
            unexplained.append(diff)
    seen = {d[0] for d in diffs}
    stale = sorted(set(allowed) - seen)
    return unexplained, excused, stale


def describe(diffs, details=None):
    """One line per difference, with the watched run's exception line."""
    details = details or {}
    lines = []
    for test_id, a, b, *rest in diffs:
        why = " | ".join(x for x in details.get(test_id, "").strip().splitlines() if x.strip())
        lines.append(f"  {test_id}: plain={a} watched={b}" + (f"  [{why[:400]}]" if why else ""))
    return "\n".join(lines)
