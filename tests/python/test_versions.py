"""Every CPython on the machine (pyenv's 3.9, 3.10, 3.12 and 3.13 besides
the suite's own): cachewatch builds for it (with -Werror), judges the bundled
demo as on 3.11 (the check-then-act at lines 16 and 21, the threads started
at line 38) and every scenario as its expectations say. An absent version is
skipped with a line saying so; under CI every one the brief names must be
present."""
import glob
import json
import os
import subprocess

import pytest

from helpers import ROOT, SCENARIOS, SORTKEY_PROGRAM, child_env

VERSIONS = ["3.9", "3.10", "3.12", "3.13"]
# What libunwind called libc's start_thread and clone3 from the exported
# symbols before them (Debian's libc has no others).
MISNAMED = {"pthread_condattr_setpshared", "__xmknodat"}


def pyenv_python(version):
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin",
                                          f"python{version}")))
    return found[-1] if found else None


@pytest.mark.parametrize("version", VERSIONS)
def test_the_demo_is_judged_the_same_on_every_version(version, tmp_path):
    python = pyenv_python(version)
    if python is None:
        if os.environ.get("CI"):
            pytest.fail(f"CPython {version} is not on this machine (pyenv versions)")
        pytest.skip(f"CPython {version} is not on this machine")
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=300)
    env = child_env({"CACHEWATCH_WERROR": "1"})
    build = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", ROOT,
                            "pytest", "hypothesis", "futurist", "eventlet", "gevent"],
                           capture_output=True, text=True, env=env, timeout=900)
    assert build.returncode == 0, build.stdout + build.stderr
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "cachewatch", "run", "--watch",
         "__main__:CELL_CACHE", "--json", str(out), "cell_cache_nolock.py"],
        capture_output=True, text=True, cwd=SCENARIOS, env=child_env(), timeout=300)
    assert proc.returncode == 66, proc.stderr
    findings = json.load(open(out))["findings"]
    assert [f["category"] for f in findings] == ["check-then-act"], proc.stderr
    lines = sorted({a["stack"][0]["line"] for a in findings[0]["accesses"]} |
                   {a["check"]["stack"][0]["line"] for a in findings[0]["accesses"]
                    if a.get("check")})
    assert lines == [16, 21], proc.stderr
    assert "cell_cache_nolock.py:38" in proc.stderr, proc.stderr  # where the threads started
    # Native frames among the Python frames they called, and no libc frame
    # given the name of an exported function before it.
    script = tmp_path / "sortkey.py"
    script.write_text(SORTKEY_PROGRAM)
    out = tmp_path / "native.json"
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "cachewatch", "run", "--native-stacks", "1",
         "--watch", "__main__:CACHE", "--json", str(out), str(script)],
        capture_output=True, text=True, cwd=tmp_path, env=child_env(), timeout=300)
    assert proc.returncode == 66, proc.stderr
    stack = json.load(open(out))["findings"][0]["accesses"][0]["stack"]
    names = [f["function"] for f in stack]
    assert names.index("touch") < names.index("list_sort_impl") < names.index("work"), names
    assert not set(names) & MISNAMED, names
    # Every scenario, judged as its expectations say (the same file as on 3.11).
    scenarios = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
         os.path.join(ROOT, "tests", "python", "test_scenarios.py")],
        capture_output=True, text=True, cwd=ROOT, env=child_env(), timeout=900)
    assert scenarios.returncode == 0, scenarios.stdout[-3000:] + scenarios.stderr[-2000:]


def test_an_unsupported_python_is_refused_in_one_line(tmp_path):
    python = pyenv_python("3.8")
    if python is None:
        pytest.skip("CPython 3.8 is not on this machine")
    proc = subprocess.run([python, "-m", "pip", "install", "-q", "--target", str(tmp_path), ROOT],
                          capture_output=True, text=True, env=child_env(), timeout=600)
    lines = [line for line in (proc.stdout + proc.stderr).splitlines()
             if line.strip() and "is ignored" not in line]  # pip's notes on this machine's index
    assert proc.returncode != 0
    assert len(lines) == 1 and lines[0].startswith(
        "ERROR: Package 'cachewatch' requires a different Python: 3.8"), lines
    assert ">=3.9" in lines[0] and "<3.15" in lines[0], lines
