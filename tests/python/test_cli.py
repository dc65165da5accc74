"""python -m cachewatch: exit statuses, errors, options, native stacks."""
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from helpers import ROOT, SCENARIOS, SORTKEY_PROGRAM, run_cachewatch, run_python

RACY = os.path.join(SCENARIOS, "dict_check_then_set.py")
CLEAN = os.path.join(SCENARIOS, "dict_check_then_set_norace.py")
WATCH = ["--watch", "__main__:CACHE"]


def test_exit_66_when_races_and_program_succeeded():
    proc, findings = run_cachewatch(WATCH + [RACY], cwd=SCENARIOS)
    assert proc.returncode == 66
    assert len(findings) == 1
    assert proc.stderr.rstrip().endswith("cachewatch: 1 finding(s): 1 check-then-act")


def test_the_demo_names_its_lines_and_where_its_threads_started():
    # The README's demo scenario, judged on whichever CPython runs the suite
    # (3.9 once gave a write-write at 24 and wrong creation lines: its
    # f_lasti is a byte offset where 3.10's counts code units).
    proc, findings = run_cachewatch(["--watch", "__main__:CELL_CACHE", "cell_cache_nolock.py"],
                                    cwd=SCENARIOS)
    assert proc.returncode == 66, proc.stderr
    assert [f["category"] for f in findings] == ["check-then-act"], proc.stderr
    accesses = findings[0]["accesses"]
    lines = {a["stack"][0]["line"] for a in accesses} | \
        {a["check"]["stack"][0]["line"] for a in accesses if a.get("check")}
    assert lines == {16, 21}, proc.stderr
    assert "cell_cache_nolock.py:38" in proc.stderr, proc.stderr  # where the threads started
    # what to do, and where
    assert ("  Hint: hold one lock across the check and the act, or make them one operation "
            "(setdefault, pop(key, None)); here lines 16-21\n") in proc.stderr, proc.stderr


def test_every_finding_says_what_to_do_in_one_line():
    proc, findings = run_cachewatch(["--executor-leak-count", "5", "pool_per_call.py"],
                                    cwd=SCENARIOS)
    assert [f["category"] for f in findings] == ["executor-leak"], proc.stderr
    hints = [line for line in proc.stderr.splitlines() if line.startswith("  Hint: ")]
    assert hints == ["  Hint: call shutdown(), or use the executor as a context manager"]


def test_exit_0_without_races():
    proc, findings = run_cachewatch(WATCH + [CLEAN], cwd=SCENARIOS)
    assert proc.returncode == 0 and findings == []
    assert proc.stderr.strip() == "cachewatch: nothing found"


def test_program_status_wins_when_it_failed(tmp_path):
    script = tmp_path / "fails.py"
    script.write_text(open(RACY).read() + "\nraise SystemExit(3)\n")
    proc, findings = run_cachewatch(WATCH + [str(script)], cwd=SCENARIOS)
    assert proc.returncode == 3 and len(findings) == 1


def test_exitcode_option(tmp_path):
    proc, _ = run_cachewatch(["--exitcode", "0"] + WATCH + [RACY], cwd=SCENARIOS)
    assert proc.returncode == 0
    proc, _ = run_cachewatch(["--exitcode", "9"] + WATCH + [RACY], cwd=SCENARIOS)
    assert proc.returncode == 9


def test_script_arguments_and_dash_m(tmp_path):
    pkg = tmp_path / "racer"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text(textwrap.dedent("""
        import sys, threading
        CACHE = {}
        def fill():
            if "k" not in CACHE:
                CACHE["k"] = sys.argv[1:]
        ts = [threading.Thread(target=fill) for _ in range(2)]
        [t.start() for t in ts]; [t.join() for t in ts]
        print(CACHE["k"])
    """))
    proc, findings = run_cachewatch(WATCH + ["-m", "racer", "x", "y"], cwd=tmp_path)
    assert proc.stdout.strip() == "['x', 'y']", proc.stderr
    assert proc.returncode == 66 and findings[0]["target"] == "__main__.CACHE"
    # Everything after the module or the script is the program's, flags too
    # (as with python -m): `run -m pytest -q` must not be refused.
    proc, _ = run_cachewatch(WATCH + ["-m", "racer", "-q", "--flag", "--json", "z"], cwd=tmp_path)
    assert proc.stdout.strip() == "['-q', '--flag', '--json', 'z']", proc.stderr
    proc, _ = run_cachewatch(WATCH + ["-mracer", "-x"], cwd=tmp_path)
    assert proc.stdout.strip() == "['-x']", proc.stderr
    proc, _ = run_cachewatch(WATCH + [str(pkg / "__main__.py"), "-q", "--", "w"], cwd=tmp_path)
    assert proc.stdout.strip() == "['-q', '--', 'w']", proc.stderr


def test_run_dash_m_pytest(tmp_path):
    """pytest run as the module: its own flags, and no warning about cachewatch
    being imported before pytest could rewrite it."""
    (tmp_path / "test_small.py").write_text("def test_ok():\n    assert 1 + 1 == 2\n")
    proc = run_python(["-m", "cachewatch", "run", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                       "-W", "error::pytest.PytestAssertRewriteWarning", "test_small.py"],
                      cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout and "Warning" not in proc.stdout + proc.stderr


def test_failing_program_traceback_starts_at_its_own_code(tmp_path):
    script = tmp_path / "fails.py"
    script.write_text("import json\ndef parse():\n    json.loads('{')\nparse()\n")
    plain = run_python([str(script)], cwd=tmp_path)
    proc = run_python(["-m", "cachewatch", "run", str(script)], cwd=tmp_path)
    assert proc.returncode == 1
    # The traceback python itself prints, then cachewatch's summary line.
    assert proc.stderr.splitlines()[:-1] == plain.stderr.splitlines(), proc.stderr
    assert "runpy" not in proc.stderr and "__main__.py" not in proc.stderr


def test_bad_input_gives_one_line():
    proc = run_python(["-m", "cachewatch", "run", "--max-frames", "0", RACY])
    assert proc.returncode == 2
    assert proc.stderr.strip() == "cachewatch: option 'max_frames' must be 1-256, got 0"
    proc = run_python(["-m", "cachewatch", "run", "no_such_script.py"])
    assert proc.returncode == 2
    assert proc.stderr.strip() == "cachewatch: no such script: no_such_script.py"
    proc = run_python(["-m", "cachewatch", "run", "--json", "/missing/d/x.json", RACY])
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("cachewatch: json_path '/missing/d/x.json': "
                                   "no such directory '/missing/d'")
    proc = run_python(["-m", "cachewatch", "run", "-m", "no_such_module"])
    assert proc.returncode == 1
    assert proc.stderr.strip() == "cachewatch: no module named no_such_module"
    proc = run_python(["-m", "cachewatch", "run", "--watch", "bad", RACY])
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("cachewatch: bad watch target 'bad' "
                                   "(want module:NAME, module:NAME.attr, module:Class(), "
                                   "module:*, package.* or path/to/file.py:NAME)")


def test_option_doc_table_is_the_flag_table():
    proc = run_python(["-m", "cachewatch", "options"])
    table = proc.stdout.strip()
    assert table.count("\n") >= 10
    with open(os.path.join(ROOT, "docs", "options.md")) as f:
        assert table in f.read(), "docs/options.md is stale: run scripts/update-options-doc.py"


def test_native_stacks_place_c_frames_among_python_frames(tmp_path):
    script = tmp_path / "sortkey.py"
    script.write_text(SORTKEY_PROGRAM)
    proc, findings = run_cachewatch(["--native-stacks", "1"] + WATCH + [str(script)])
    assert proc.returncode == 66, proc.stderr
    stack = findings[0]["accesses"][0]["stack"]
    names = [f["function"] for f in stack]
    assert names[0] == "touch" and not stack[0]["native"]
    # sorted's C code ran touch: it sits between touch and work.
    assert names.index("touch") < names.index("list_sort_impl") < names.index("work"), names
    assert stack[names.index("list_sort_impl")]["native"]
    # The thread's C entry points are outermost, below every Python frame.
    last_python = max(i for i, f in enumerate(stack) if not f["native"])
    entry = "thread_run" if "thread_run" in names else "t_bootstrap"  # its name up to 3.10
    assert names.index(entry) > last_python, names
    assert not any("_cachewatch" in f["file"] for f in stack if f["native"]), stack
    # libc's start_thread and clone3 are not given the exported name before them.
    assert not {"pthread_condattr_setpshared", "__xmknodat"} & set(names), names


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_build_without_libunwind_works_and_says_so(tmp_path):
    build = tmp_path / "build"
    env = dict(os.environ, CACHEWATCH_NO_LIBUNWIND="1")
    done = subprocess.run([sys.executable, "setup.py", "build", "--build-base", str(build)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "libunwind not found" in done.stderr
    lib = next(p for p in build.iterdir() if p.name.startswith("lib"))
    proc = run_python(["-c", "import cachewatch, cachewatch._cachewatch, sys; "
                       "print(cachewatch._cachewatch.native_stacks_available());"
                       "cachewatch.start('native_stacks=1')"], env={"PYTHONPATH": str(lib)})
    assert proc.stdout.strip() == "False", proc.stderr
    assert re.fullmatch(r"cachewatch: native_stacks needs libunwind.*Python frames only", proc.stderr.strip())


def test_generated_option_table_is_the_c_table():
    # The pytest plugin reads a copy generated from ext/engine/flags.inc at build
    # time (it must not load the C core); it must say what the C core says.
    proc = run_python(["-c", "import cachewatch._cachewatch as c, cachewatch._flag_table as t\n"
                             "print([tuple(r) for r in c.flag_table()] == "
                             "[tuple(r) for r in t.FLAGS])"])
    assert proc.stdout.strip() == "True", proc.stderr


def test_report_merges_per_process_files(tmp_path):
    paths = []
    for i in range(2):
        out = tmp_path / f"r{i}.json"
        proc, findings = run_cachewatch(WATCH + ["--json", str(out), RACY], cwd=SCENARIOS)
        assert proc.returncode == 66
        paths.append(str(out))
    merged = tmp_path / "merged.json"
    proc = run_python(["-m", "cachewatch", "report", "--json", str(merged)] + paths)
    assert proc.returncode == 66, proc.stderr
    findings = json.load(open(merged))["findings"]
    assert len(findings) == 1, "the same race from two processes is one finding"
    assert len(findings[0]["processes"]) == 2
    assert proc.stdout.splitlines()[0].startswith("check-then-act on __main__.CACHE (2 process(es)")
    assert proc.stdout.splitlines()[-1] == "cachewatch: 1 finding(s): 1 check-then-act"
    (tmp_path / "junk.json").write_text("[1, 2]")
    proc = run_python(["-m", "cachewatch", "report", str(tmp_path / "junk.json")])
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"cachewatch: cannot read report {tmp_path / 'junk.json'}: "
                                   "not a cachewatch report (no 'findings' list)")
    proc = run_python(["-m", "cachewatch", "report", "--json", "/missing/dir/m.json"] + paths)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("cachewatch: cannot write /missing/dir/m.json: "
                                   "No such file or directory")


def test_watch_takes_comma_separated_targets_as_its_help_says():
    """--watch 'a:X,b:Y' is two targets (the watch option's own syntax), on the
    command line as in CACHEWATCH_OPTIONS."""
    proc, findings = run_cachewatch(["--watch", "__main__:OTHER,__main__:CACHE", RACY],
                                    cwd=SCENARIOS)
    assert proc.returncode == 66, proc.stderr
    assert [f["target"] for f in findings] == ["__main__.CACHE"]
    assert "bad watch target" not in proc.stderr


def test_main_targets_apply_to_threads_started_with_thread_module(tmp_path):
    """A script whose threads start with _thread.start_new_thread (no
    threading.Thread.start at all) is watched all the same, and its target is
    not said to name nothing at exit."""
    script = tmp_path / "raw.py"
    script.write_text(textwrap.dedent("""
        import _thread, time
        CACHE = {}
        done = []
        def fill():
            for k in range(5):
                if k not in CACHE:
                    time.sleep(0.001)
                    CACHE[k] = 1
            done.append(1)
        for _ in range(2):
            _thread.start_new_thread(fill, ())
        while len(done) < 2:
            time.sleep(0.01)
    """))
    proc, findings = run_cachewatch(WATCH + [str(script)], cwd=tmp_path)
    assert [f["category"] for f in findings] == ["check-then-act"], proc.stderr
    assert "names nothing" not in proc.stderr and proc.returncode == 66


def test_report_keeps_thread_leaks_from_different_places_apart(tmp_path):
    """Both leaks have Thread.start innermost; they were started at two
    places, so the merged report has two of them, as each process's had."""
    script = tmp_path / "leaks.py"
    script.write_text(textwrap.dedent("""
        import threading, time
        def one():
            threading.Thread(target=time.sleep, args=(0.5,)).start()
        def two():
            threading.Thread(target=time.sleep, args=(0.5,)).start()
        one()
        two()
    """))
    paths = []
    for i in range(2):
        out = tmp_path / f"r{i}.json"
        proc = run_python(["-m", "cachewatch", "run", "--thread-leak-grace-ms", "10", "--json",
                           str(out), str(script)], cwd=tmp_path)
        findings = json.load(open(out))["findings"]
        assert [f["category"] for f in findings] == ["thread-leak", "thread-leak"], proc.stderr
        paths.append(str(out))
    merged = tmp_path / "merged.json"
    proc = run_python(["-m", "cachewatch", "report", "--json", str(merged)] + paths)
    findings = json.load(open(merged))["findings"]
    assert len(findings) == 2, proc.stdout
    assert all(len(f["processes"]) == 2 for f in findings)


def test_one_bug_at_many_keys_is_one_finding_that_says_how_many(tmp_path):
    script = tmp_path / "keys.py"
    script.write_text(textwrap.dedent("""
        import threading
        CACHE = {}
        def fill(keys):
            for k in keys:
                if k not in CACHE:
                    CACHE[k] = 1
        for _ in range(20):
            CACHE.clear()
            ts = [threading.Thread(target=fill, args=(["a", "b", "c"],)) for _ in range(3)]
            [t.start() for t in ts]; [t.join() for t in ts]
    """))
    proc, findings = run_cachewatch(WATCH + [str(script)], cwd=tmp_path)
    assert [(f["category"], f["keys"]) for f in findings] == [("check-then-act", 3)], proc.stderr
    merged = tmp_path / "m.json"
    out = tmp_path / "one.json"
    json.dump({"findings": findings, "pid": 1}, open(out, "w"))
    proc = run_python(["-m", "cachewatch", "report", "--json", str(merged), str(out)])
    assert proc.stdout.startswith("check-then-act on __main__.CACHE (1 process(es), at 3 keys")


def test_stack_lines_show_their_source_and_no_import_machinery(tmp_path):
    """As a Python traceback: each frame's source line under it; a race in a
    module's body, run by an import, shows no <frozen importlib> frames."""
    (tmp_path / "racymod.py").write_text(textwrap.dedent("""
        import threading
        CACHE = {}
        def fill():
            for k in range(5):
                if k not in CACHE:  # the check
                    CACHE[k] = 1
        ts = [threading.Thread(target=fill) for _ in range(2)]
        [t.start() for t in ts]; [t.join() for t in ts]
    """))
    script = tmp_path / "main.py"
    script.write_text("import racymod\n")
    proc, findings = run_cachewatch(["--watch", "racymod:CACHE", str(script)], cwd=tmp_path)
    assert findings and findings[0]["category"] == "check-then-act", proc.stderr
    lines = proc.stderr.splitlines()
    frame = next(i for i, l in enumerate(lines) if re.match(r"\s+#0 fill .*racymod.py:6$", l))
    assert lines[frame + 1] == "        if k not in CACHE:  # the check", proc.stderr
    assert "<frozen importlib" not in proc.stderr
    assert any(re.match(r"\s+#\d+ <module> .*main.py:1$", l) for l in lines), proc.stderr


def test_a_file_target_names_the_module_that_runs_the_file(tmp_path):
    """path/to/file.py:NAME: the script itself, or a module imported under
    any name; a file that does not exist is said in one line."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "cachemod.py").write_text(textwrap.dedent("""
        import threading, time
        CACHE = {}
        def fill():
            for k in range(5):
                if k not in CACHE:
                    time.sleep(0.001)
                    CACHE[k] = 1
        def race():
            ts = [threading.Thread(target=fill) for _ in range(2)]
            [t.start() for t in ts]; [t.join() for t in ts]
    """))
    (tmp_path / "main.py").write_text(textwrap.dedent("""
        import sys
        sys.path.insert(0, "lib")
        import cachemod
        cachemod.race()
    """))
    proc, findings = run_cachewatch(
        ["--watch", "lib/cachemod.py:CACHE,gone.py:X", "main.py"], cwd=tmp_path)
    assert [(f["category"], f["target"]) for f in findings] == \
        [("check-then-act", "cachemod.CACHE")], proc.stderr
    missing = f"cachewatch: watch target {tmp_path}/gone.py:X names no file"
    assert proc.stderr.count(missing) == 2, proc.stderr  # at start, again at exit
    proc, findings = run_cachewatch(["--watch", f"{RACY}:CACHE", RACY], cwd=tmp_path)
    assert [(f["category"], f["target"]) for f in findings] == \
        [("check-then-act", "__main__.CACHE")], proc.stderr


def test_report_baseline_lists_only_new_findings_even_when_lines_moved(tmp_path):
    # CI fails on regressions only: the race known in the old run is known in
    # the new one although an edit moved its lines; the new leak is listed.
    source = open(os.path.join(SCENARIOS, "cell_cache_nolock.py")).read()
    reports = {}
    for run, text in (("old", source), ("new", "# an edit above\n\n" + source)):
        (tmp_path / run).mkdir()
        (tmp_path / run / "cell_cache_nolock.py").write_text(text)
        os.symlink(os.path.join(SCENARIOS, "support"), tmp_path / run / "support")
        reports[run] = str(tmp_path / run / "race.json")
        proc = run_python(["-m", "cachewatch", "run", "--watch", "__main__:CELL_CACHE", "--json",
                           reports[run], "cell_cache_nolock.py"], cwd=str(tmp_path / run))
        found = json.load(open(reports[run]))["findings"]
        assert [f["category"] for f in found] == ["check-then-act"], proc.stderr
    leak = str(tmp_path / "new" / "leak.json")
    run_python(["-m", "cachewatch", "run", "--executor-leak-count", "5", "--json", leak,
                os.path.join(SCENARIOS, "pool_per_call.py")], cwd=str(tmp_path / "new"))
    proc = run_python(["-m", "cachewatch", "report", "--baseline", reports["old"],
                       reports["new"], leak], cwd=str(tmp_path / "new"))
    assert proc.returncode == 66, proc.stderr
    assert "executor-leak" in proc.stdout and "check-then-act" not in proc.stdout, proc.stdout
    same = run_python(["-m", "cachewatch", "report", "--baseline", reports["old"],
                       reports["new"]], cwd=str(tmp_path / "new"))
    assert same.returncode == 0 and same.stdout.strip() == "cachewatch: nothing found", same.stdout


def _stderr_at_a_terminal(args, env):
    """Run cachewatch with its stderr (and stdout) on a pseudo-terminal."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: its output goes to the terminal
        os.chdir(SCENARIOS)
        os.execve(sys.executable, [sys.executable, "-m", "cachewatch", "run"] + args, env)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode("utf-8", "replace")


def test_colour_only_at_a_terminal_never_with_no_color_and_paths_relative():
    args = ["--watch", "__main__:CELL_CACHE", "cell_cache_nolock.py"]
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.pop("CACHEWATCH_OPTIONS", None)
    coloured = _stderr_at_a_terminal(args, env)
    assert "\x1b[1;31mWARNING: cachewatch: check-then-act race" in coloured, coloured
    assert "\x1b[32m  Hint: " in coloured
    plain = _stderr_at_a_terminal(args, dict(env, NO_COLOR="1"))
    assert "WARNING: cachewatch: check-then-act race" in plain and "\x1b[" not in plain
    piped, _ = run_cachewatch(args, cwd=SCENARIOS)  # a pipe, not a terminal
    assert "WARNING: cachewatch" in piped.stderr and "\x1b[" not in piped.stderr
    # a file under the current directory is shown relative to it
    proc, _ = run_cachewatch(["--watch", "__main__:CELL_CACHE",
                              os.path.join(SCENARIOS, "cell_cache_nolock.py")], cwd=SCENARIOS)
    assert re.search(r"#0 \S*get_or_set_cached_cell_and_set_connections cell_cache_nolock.py:21\n",
                     proc.stderr), proc.stderr
    assert SCENARIOS + "/cell_cache_nolock.py" not in proc.stderr


def test_start_up_imports_only_what_the_run_needs(tmp_path):
    # bytecode (rewriting code that uses a watched module-level name), inspect
    # and importlib.abc cost ~25 ms of every start-up together: none is
    # imported by cachewatch for a run that does not need it.
    script = tmp_path / "mods.py"
    script.write_text("import sys\n"
                      "print(sorted(m for m in ('bytecode', 'inspect', 'importlib.abc')\n"
                      "             if m in sys.modules))\n")
    proc = run_python(["-m", "cachewatch", "run", str(script)], cwd=str(tmp_path))
    imported = ast.literal_eval(proc.stdout.strip())
    if sys.version_info < (3, 10):  # 3.9's runpy itself imports importlib.abc (importlib.util)
        imported.remove("importlib.abc")
    assert imported == [], proc.stdout + proc.stderr
