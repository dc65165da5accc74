"""Real libraries' code, watched with `package.*` as a user would: a true race
in structlog's contextvars registry is found where it is, and the same
library used as documented says nothing; cachetools' caches, documented as
not thread-safe, race without the lock `cached()` takes, and not with it."""
import textwrap

import pytest

from helpers import run_cachewatch

STRUCTLOG = """
    import sys, threading, structlog
    MODE = sys.argv[1]
    structlog.configure(processors=[structlog.processors.KeyValueRenderer()],
                        logger_factory=structlog.ReturnLoggerFactory())
    if MODE == "good":
        structlog.contextvars.bind_contextvars(request=-1)  # the key exists before the threads
    barrier = threading.Barrier(6)

    def worker(i):
        barrier.wait()
        for r in range(200):
            structlog.contextvars.bind_contextvars(request=r)
            structlog.get_logger().bind(worker=i).info("event")

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    print(MODE, "done")
"""

CACHETOOLS = """
    import sys, threading, cachetools
    MODE = sys.argv[1]
    LRU = cachetools.LRUCache(maxsize=20)
    LOCK = threading.Lock()

    @cachetools.cached(LRU, lock=LOCK if MODE == "good" else None)
    def square(k):
        return k * k

    def worker():
        for r in range(400):
            square(r % 40)

    ts = [threading.Thread(target=worker) for _ in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    print(MODE, "done")
"""


def run(tmp_path, source, targets, mode):
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(source))
    args = [a for t in targets for a in ("--watch", t)]
    proc, findings = run_cachewatch(args + [str(script), mode], cwd=str(tmp_path))
    assert proc.stdout.strip() == f"{mode} done", proc.stderr
    assert findings is not None, proc.stderr
    return proc, findings


def test_structlog_contextvars_registry_race(tmp_path):
    pytest.importorskip("structlog")
    proc, findings = run(tmp_path, STRUCTLOG, ["structlog.*"], "bad")
    races = {(f["category"], f["target"]) for f in findings}
    # bind_contextvars: `var = _CONTEXT_VARS[k]` missing in two threads, each
    # makes a ContextVar and stores it; the second replaces the first's.
    assert ("check-then-act", "structlog.contextvars._CONTEXT_VARS") in races, proc.stderr
    frames = [a["stack"][0] for f in findings for a in f["accesses"]
              if f["target"] == "structlog.contextvars._CONTEXT_VARS"]
    assert {fr["function"] for fr in frames} == {"bind_contextvars"}
    assert all(fr["file"].endswith("structlog/contextvars.py") for fr in frames)


def test_structlog_used_as_documented_is_silent(tmp_path):
    pytest.importorskip("structlog")
    proc, findings = run(tmp_path, STRUCTLOG, ["structlog.*"], "good")
    assert findings == [], proc.stderr


def test_cachetools_cache_without_its_lock_races_and_with_it_is_silent(tmp_path):
    pytest.importorskip("cachetools")
    proc, findings = run(tmp_path, CACHETOOLS, ["__main__:LRU"], "bad")
    assert findings and {f["target"].split(".")[1] for f in findings} == {"LRU"}, proc.stderr
    # all in cachetools' own code: its cache's insides, and cached()'s
    # wrapper missing and storing a key as two calls (double computation)
    assert all("/cachetools/" in a["stack"][0]["file"] for f in findings for a in f["accesses"])
    assert any(f["target"] == "__main__.LRU" and f["category"] == "check-then-act"
               for f in findings), [(f["category"], f["target"]) for f in findings]
    proc, findings = run(tmp_path, CACHETOOLS, ["__main__:LRU"], "good")
    assert findings == [], proc.stderr
