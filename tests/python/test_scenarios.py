"""Every scenario gives exactly the findings written beside it.

A scenario states how it is run (# CACHEWATCH-ARGS:) and what it must give
(# EXPECT: CATEGORY TARGET lines=N,M, one line per finding, or
# EXPECT: none). Lines are those of the innermost frames of the accesses and
of the checks they acted on; a finding may show more."""
import glob
import os
import shlex

import pytest

from helpers import SCENARIOS, innermost_lines, run_cachewatch


def scenario_files():
    return sorted(glob.glob(os.path.join(SCENARIOS, "*.py")))


def parse(path):
    args, expected, none = [], [], False
    with open(path) as f:
        for line in f:
            if line.startswith("# CACHEWATCH-ARGS:"):
                args += shlex.split(line.split(":", 1)[1])
            elif line.startswith("# EXPECT:"):
                spec = line.split(":", 1)[1].split()
                if spec == ["none"]:
                    none = True
                    continue
                category, target, lines = spec
                assert lines.startswith("lines=")
                expected.append((category, target, {int(n) for n in lines[6:].split(",")}))
    assert none != bool(expected), f"{path}: state EXPECT lines or 'EXPECT: none'"
    return args, expected


def test_every_scenario_states_its_expectation():
    files = scenario_files()
    assert len(files) >= 25
    for path in files:
        parse(path)
        base = os.path.basename(path)
        if not base.endswith("_norace.py"):
            continue
        # A fixed program has a racy twin: same name without _norace, or the
        # scenario named in its "# RACY-TWIN:" line.
        twin = path.replace("_norace.py", ".py")
        with open(path) as f:
            for line in f:
                if line.startswith("# RACY-TWIN:"):
                    twin = os.path.join(SCENARIOS, line.split(":", 1)[1].strip())
        assert os.path.exists(twin), f"{base} has no racy twin ({os.path.basename(twin)})"


@pytest.mark.parametrize("path", scenario_files(), ids=os.path.basename)
def test_scenario(path):
    args, expected = parse(path)
    proc, findings = run_cachewatch(args + [path], cwd=SCENARIOS)
    assert findings is not None, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    actual = [(f["category"], f["target"], innermost_lines(f, SCENARIOS)) for f in findings]
    unmatched = list(actual)
    for category, target, lines in expected:
        match = next((a for a in unmatched
                      if a[0] == category and a[1] == target and lines <= a[2]), None)
        assert match is not None, f"missing {category} on {target} at {sorted(lines)}; got {actual}"
        unmatched.remove(match)
    assert not unmatched, f"unexpected findings: {unmatched}\n{proc.stderr}"
    if expected:
        assert proc.returncode == 66, proc.stderr
        assert proc.stderr.count("WARNING: cachewatch:") == len(expected)
        assert "SUMMARY: cachewatch:" in proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr
        assert "WARNING: cachewatch" not in proc.stderr
