"""Which CPythons cachewatch is for. The whole suite runs on each of
pyenv's 3.9, 3.10, 3.12 and 3.13 (scripts/test-versions.sh); these tests are
about the versions themselves: one it does not support is refused at install
in one line, and the free-threaded build's object layout compiles."""
import glob
import os
import subprocess

import pytest

from helpers import ROOT, SCENARIOS, child_env, run_python


def pyenv_python(version):
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin",
                                          f"python{version}")))
    return found[-1] if found else None


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


# Compiles only where the headers give the free-threaded object layout for
# Py_GIL_DISABLED (a GIL build's PyObject is 16 bytes).
FREE_THREADED_PROBE = """\
#include <Python.h>
_Static_assert(sizeof(PyObject) > 16, "not the free-threaded object layout");
"""


def test_the_c_core_compiles_for_the_free_threaded_build(tmp_path):
    # No free-threaded CPython can be had here; 3.13's headers lay objects out
    # for one when Py_GIL_DISABLED is defined, as its python3.13t does. Every
    # file of the binding compiles so, warnings as errors (its guards, and
    # PyUnstable_Module_SetGIL saying the hooks need the GIL).
    python = pyenv_python("3.13")
    if python is None:
        if os.environ.get("CI"):
            pytest.fail("CPython 3.13 is not on this machine (pyenv versions)")
        pytest.skip("CPython 3.13 is not on this machine")
    include = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('include'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    flags = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-DPy_GIL_DISABLED=1",
             "-DCW_HAVE_LIBUNWIND=1", "-I", include, "-I", os.path.join(ROOT, "ext", "engine"),
             "-I", os.path.join(ROOT, "ext", "cpython")]
    probe = tmp_path / "probe.c"
    probe.write_text(FREE_THREADED_PROBE)
    done = subprocess.run(["cc", "-c", str(probe), "-o", os.devnull] + flags,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    binding = os.path.join(ROOT, "ext", "cpython")
    sources = sorted(f for f in os.listdir(binding) if f.endswith(".c"))
    assert "module.c" in sources and len(sources) > 20
    for source in sources:
        done = subprocess.run(["cc", "-c", os.path.join(binding, source), "-o", os.devnull] + flags,
                              capture_output=True, text=True)
        assert done.returncode == 0, f"{source}:\n{done.stderr}"


def test_a_free_threaded_run_without_its_gil_is_refused_in_one_line(tmp_path):
    # sys._is_gil_enabled() is False only on a free-threaded CPython run
    # with PYTHON_GIL=0; stood in for here. The API says so and does not
    # start; `cachewatch run` says so and runs nothing unchecked.
    refuse = "import sys; sys._is_gil_enabled = lambda: False\n"
    api = run_python(["-c", refuse + "import cachewatch\n"
                      "cachewatch.start('watch=__main__:CACHE')\n"
                      "print('active', cachewatch.is_active())"])
    assert api.returncode == 0 and api.stdout.strip() == "active False", api.stderr
    cli = run_python(["-c", refuse + "import runpy\n"
                      "sys.argv = ['cachewatch', 'run', '--watch', '__main__:CELL_CACHE', "
                      "'cell_cache_nolock.py']\n"
                      "runpy.run_module('cachewatch', run_name='__main__')"], cwd=SCENARIOS)
    assert cli.returncode == 2 and "cached cells" not in cli.stdout, cli.stdout + cli.stderr
    for proc in (api, cli):
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(
            "cachewatch: not checking: this free-threaded CPython runs without its GIL"), lines
