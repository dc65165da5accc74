"""The seeds' claim about CELL_CACHE, judged on Nova's own code: Debian's
python3-nova (Zed) run by /usr/bin/python3 under cachewatch. Skipped where
that interpreter cannot import nova."""
import json
import os
import subprocess
import sys

import pytest

import cachewatch
from helpers import child_env

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = os.path.join(os.path.dirname(__file__), "nova_check.py")


def nova_unusable():
    """Why Nova cannot be run here, or None."""
    if not os.path.exists(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} is not installed"
    done = subprocess.run([SYSTEM_PYTHON, "-c",
                           "import sys, nova.context, oslo_concurrency; "
                           "print('%d.%d' % sys.version_info[:2])"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return "python3-nova is not installed"
    system = done.stdout.strip()
    if system != "%d.%d" % sys.version_info[:2]:
        # Nova runs on Debian's interpreter, with this cachewatch's C core.
        return (f"python3-nova runs on {SYSTEM_PYTHON} ({system}); this cachewatch "
                f"is built for {sys.version_info[0]}.{sys.version_info[1]}")
    return None


UNUSABLE = nova_unusable()
pytestmark = pytest.mark.skipif(UNUSABLE is not None, reason=str(UNUSABLE))


@pytest.fixture
def cachewatch_path(tmp_path):
    """A directory holding only this cachewatch and what it needs, for the
    system interpreter."""
    import bytecode

    for module in (cachewatch, bytecode):
        pkg = os.path.dirname(module.__file__)
        os.symlink(pkg, tmp_path / os.path.basename(pkg))
    return str(tmp_path)


# Threads, and greenthreads as Nova's services run (eventlet.monkey_patch()).
RUNS = pytest.mark.parametrize("run", ["threads", "green"])


def run_nova(cachewatch_path, tmp_path, mode, target="nova.context:CELL_CACHE", run="threads"):
    out = tmp_path / "nova.json"
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-m", "cachewatch", "run", "--watch", target,
         "--json", str(out), SCRIPT, mode] + (["green"] if run == "green" else []),
        capture_output=True, text=True, timeout=300,
        env=child_env({"PYTHONPATH": cachewatch_path}))
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc, json.loads(out.read_text())["findings"]


@RUNS
@pytest.mark.parametrize("mode", ["set-target-cell", "set-target-cell-io", "scatter-gather"])
def test_set_target_cell_under_per_uuid_locks_is_silent(cachewatch_path, tmp_path, run, mode):
    proc, findings = run_nova(cachewatch_path, tmp_path, mode, run=run)
    assert proc.returncode == 0, proc.stderr
    assert "cached cells: 3" in proc.stdout
    assert findings == []


@pytest.mark.parametrize("run,mode", [("threads", "no-lock"), ("threads", "no-lock-io"),
                                      ("green", "no-lock-io")])
def test_set_target_cell_without_its_lock_is_a_race(cachewatch_path, tmp_path, run, mode):
    proc, findings = run_nova(cachewatch_path, tmp_path, mode, run=run)
    assert proc.returncode == 66, proc.stderr
    assert [f["category"] for f in findings] == ["check-then-act"]
    finding = findings[0]
    assert finding["target"] == "nova.context.CELL_CACHE"
    for access in finding["accesses"]:
        top = access["stack"][0]
        assert top["file"].endswith("nova/context.py")
        assert top["function"].endswith("get_or_set_cached_cell_and_set_connections")


def test_set_target_cell_without_its_lock_is_atomic_on_greenthreads(cachewatch_path, tmp_path):
    """Under eventlet, nothing between the cache lookup and the store
    switches greenthreads when the connection is made lazily (sqlite, no
    transport): the lock is not needed there, and nothing is reported."""
    proc, findings = run_nova(cachewatch_path, tmp_path, "no-lock", run="green")
    assert proc.returncode == 0, proc.stderr
    assert "cached cells: 3" in proc.stdout
    assert findings == []


def innermost(access):
    top = access["stack"][0]
    return os.path.basename(top["file"]), top["line"]


@RUNS
def test_service_reset_racing_inserts_is_a_lost_update(cachewatch_path, tmp_path, run):
    proc, findings = run_nova(cachewatch_path, tmp_path, "reset", run=run)
    assert proc.returncode == 66, proc.stderr
    assert [f["category"] for f in findings] == ["lost-update"]
    finding = findings[0]
    assert finding["target"] == "nova.context.CELL_CACHE"
    files = {innermost(a)[0] for a in finding["accesses"]}
    assert files == {"service.py", "context.py"}, finding


@RUNS
def test_load_cells_is_a_double_initialisation(cachewatch_path, tmp_path, run):
    proc, findings = run_nova(cachewatch_path, tmp_path, "load-cells", "nova.context:CELLS", run)
    assert proc.returncode == 66, proc.stderr
    assert [f["category"] for f in findings] == ["check-then-act"]
    finding = findings[0]
    assert finding["target"] == "nova.context.CELLS"
    assert finding["location"] == "binding"
    for access in finding["accesses"]:
        assert access["stack"][0]["function"] == "load_cells"
        assert innermost(access)[0] == "context.py"
