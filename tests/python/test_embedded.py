"""A C program embedding CPython (scenarios/embedded/host.c), checked by the
environment variable alone: the race report shows the host's own C
functions, through libunwind, below the Python frames."""
import json
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

from helpers import SCENARIOS, child_env
from test_service import needs_pth

HERE = os.path.join(SCENARIOS, "embedded")


def python_config():
    path = os.path.join(sys.base_prefix, "bin", "python%d.%d-config" % sys.version_info[:2])
    return path if os.path.exists(path) else None


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    config = python_config()
    if shutil.which("cc") is None or config is None:
        pytest.skip("needs a C compiler and python-config")
    out = tmp_path_factory.mktemp("embedded") / "host"
    flags = subprocess.run([config, "--cflags", "--embed"], capture_output=True, text=True,
                           check=True).stdout.split()
    libs = subprocess.run([config, "--ldflags", "--embed"], capture_output=True, text=True,
                          check=True).stdout.split()
    libdir = sysconfig.get_config_var("LIBDIR")
    subprocess.run(["cc", os.path.join(HERE, "host.c"), "-o", str(out)] + flags + libs +
                   [f"-Wl,-rpath,{libdir}", "-lpthread"], check=True)
    return str(out)


@needs_pth
def test_embedded_host_race_shows_the_host_functions(host, tmp_path):
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [host, sys.executable], capture_output=True, text=True, timeout=120,
        env=child_env({"CACHEWATCH_OPTIONS": f"watch=embedded_app:SESSIONS native_stacks=1 "
                                             f"json_path={report}",
                       "PYTHONPATH": HERE}))
    # The host exits 0: with a race found, exitcode (66) is its status.
    assert proc.returncode == 66, proc.stderr
    assert "host: 10 requests served" in proc.stdout
    findings = json.loads(report.read_text())["findings"]
    assert [(f["category"], f["target"]) for f in findings] == \
        [("check-then-act", "embedded_app.SESSIONS")]
    for access in findings[0]["accesses"]:
        names = [frame["function"] for frame in access["stack"]]
        assert names[0] == "handle" and not access["stack"][0]["native"]
        assert names.index("handle") < names.index("host_handle_request") < names.index("host_worker")
        assert all(frame["native"] for frame in access["stack"][names.index("host_handle_request"):])


@needs_pth
def test_embedded_host_runs_unchanged_without_the_variable(host):
    proc = subprocess.run([host, sys.executable], capture_output=True, text=True, timeout=120,
                          env=child_env({"PYTHONPATH": HERE}))
    assert proc.returncode == 0 and "host: 10 requests served" in proc.stdout
    assert "cachewatch" not in proc.stderr
