"""Suppressions: typed (race:, pool:, thread: or a category), matched against
targets, functions and files of every stack, counted; benign() in code; bad
lines give one line naming the file and line."""
import json
import textwrap

from helpers import run_code

RACE = """
    import threading
    CACHE = {}
    def fill():
        for k in range(5):
            if k not in CACHE:
                CACHE[k] = 1
    def race():
        ts = [threading.Thread(target=fill) for _ in range(2)]
        [t.start() for t in ts]; [t.join() for t in ts]
"""


def run(code, options):
    proc = run_code(textwrap.dedent(f"""
        import json, cachewatch
        cachewatch.start({options!r})
    """) + textwrap.dedent(RACE) + textwrap.dedent(code) + textwrap.dedent("""
        cachewatch.stop()
        print("RESULT" + json.dumps([cachewatch.findings(),
                                      cachewatch._cachewatch.suppressions()]))
    """))
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")]
    return proc, (json.loads(line[0][6:]) if line else None)


def test_file_suppressions_match_targets_functions_and_files(tmp_path):
    for pattern, hides in [("race:__main__.CACHE", True), ("race:__main__.*", True),
                           ("race:fill", True), ("race:<str*>", True),
                           ("check-then-act:fill", True), ("write-write:fill", False),
                           ("pool:fill", False), ("race:nothing_like_it", False)]:
        supp = tmp_path / "supp.txt"
        supp.write_text(f"# a comment\n\n{pattern}\n")
        proc, (findings, suppressions) = run("""
            cachewatch.watch(CACHE, name="__main__.CACHE")
            race()
        """, f"suppressions={supp}")
        assert proc.returncode == 0, proc.stderr
        assert (findings == []) == hides, (pattern, findings)
        assert [(s["type"] + ":" + s["pattern"], s["hits"] > 0) for s in suppressions] == \
            [(pattern, hides)]
        said = "matched" if hides else "never matched"
        assert f"cachewatch: suppression {pattern} {said}" in proc.stderr


def test_pool_and_thread_types(tmp_path):
    supp = tmp_path / "supp.txt"
    supp.write_text("pool:concurrent.futures.*\nthread:threading.Thread\n")
    proc, (findings, suppressions) = run("""
        import threading, time
        from concurrent.futures import ThreadPoolExecutor
        kept = [ThreadPoolExecutor(1) for _ in range(3)]
        threading.Thread(target=time.sleep, args=(0.3,)).start()
    """, f"suppressions={supp} executor_leak_count=3 thread_leak_grace_ms=10")
    assert findings == [], findings
    assert [s["hits"] for s in suppressions] == [1, 1]


def test_benign_in_code_is_counted_with_its_reason():
    proc, (findings, suppressions) = run("""
        cachewatch.watch(CACHE, name="app.CACHE")
        cachewatch.benign("app.CACHE", "filled idempotently")
        race()
    """, "")
    assert findings == []
    assert suppressions[0]["reason"] == "filled idempotently" and suppressions[0]["hits"] >= 1
    assert "cachewatch: suppression race:app.CACHE (filled idempotently) matched" in proc.stderr


def test_bad_suppression_files_give_one_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("race:ok\nnonsense line\n")
    proc = run_code(f"import cachewatch\ntry:\n    cachewatch.start('suppressions={bad}')\n"
                    "except ValueError as e:\n    print(e)\nprint(cachewatch.is_active())")
    assert proc.stdout.splitlines() == [
        f"cachewatch: {bad}:2: bad suppression 'nonsense line' (want TYPE:PATTERN)", "False"]
    bad.write_text("races:x\n")
    proc = run_code(f"import cachewatch\ntry:\n    cachewatch.start('suppressions={bad}')\n"
                    "except ValueError as e:\n    print(e)")
    assert proc.stdout.strip() == (f"cachewatch: {bad}:1: unknown suppression type 'races' "
                                   "(want race, pool, thread or a category)")
    proc = run_code("import cachewatch\ntry:\n    cachewatch.start('suppressions=/no/such/file')\n"
                    "except OSError as e:\n    print(e)")
    assert proc.stdout.strip() == ("cachewatch: cannot read suppressions file '/no/such/file' "
                                   "(No such file or directory)")
    # All of a file or none of it: a bad file leaves no suppression behind,
    # and a start begins with only its own file's.
    good = tmp_path / "good.txt"
    good.write_text("race:only\n")
    bad.write_text("race:first\nnonsense\n")
    proc = run_code(f"import cachewatch\nfrom cachewatch import _cachewatch\n"
                    f"for path in ['{bad}', '{bad}', '{good}']:\n"
                    f"    try:\n        cachewatch.start('suppressions=' + path)\n"
                    f"    except ValueError:\n        pass\n"
                    f"print([s['pattern'] for s in _cachewatch.suppressions()])")
    assert proc.stdout.strip() == "['only']", proc.stderr
