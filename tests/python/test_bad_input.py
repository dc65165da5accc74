"""Bad input never breaks the program it is given to.

Every watch target, CACHEWATCH_OPTIONS string and suppressions file, valid or
not, generated with hypothesis:

- `_targets.parse(spec)` gives a target or a TargetError whose message is one
  line naming the spec (as its repr); nothing else;
- under CACHEWATCH_OPTIONS (the .pth start-up path, in-process for many
  inputs per child and as real environment variables in fresh children),
  the host program runs to completion with its own output and exit status,
  valid options make cachewatch print nothing, and a bad one makes it print
  exactly one line that names the option, word, target or file at fault;
- suppressions files (generated, missing, unreadable, a directory, binary,
  with a NUL byte): one line naming the file (and the line, for a bad line),
  nothing of a bad file installed, the host unharmed.

"One line" means one printable line: what the user wrote is named in it with
its control characters (C0, DEL, NEL, LS, PS) escaped, as \\xNN of each UTF-8
byte (the C parsers) or as Python's repr writes them, never raw. CI size:
about 30-60 s; CACHEWATCH_FULL=1 tries many more inputs. The number of inputs
tried is printed at the end."""
import json
import os
import re
import string
import subprocess
import sys
import sysconfig
import tempfile
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from helpers import child_env

FULL = os.environ.get("CACHEWATCH_FULL") == "1"
TRIED = {}  # what -> how many inputs

# What a one-line message must not hold raw: every C0 control (the line's own
# final "\n" ends it), DEL, every C1 control (NEL among them) and the Unicode
# line breaks LS and PS. Terminals act on them; str.splitlines() breaks at
# \n \r \v \f \x1c-\x1e and NEL, LS, PS.
RAW_CONTROLS = frozenset([chr(c) for c in range(0x20)] + [chr(c) for c in range(0x7f, 0xa0)]
                         + ["\u2028", "\u2029"])


def _count(what, n=1):
    TRIED[what] = TRIED.get(what, 0) + n


@pytest.fixture(scope="module", autouse=True)
def _print_counts():
    yield
    total = sum(TRIED.values())
    detail = ", ".join(f"{k} {v}" for k, v in sorted(TRIED.items()))
    sys.stdout.write(f"\ntest_bad_input: {total} inputs tried ({detail})\n")


# ---- the one-line checker, and proof that it can fail ---------------------

def escaped_forms(needle):
    """The ways a one-line message may name needle: as it is, with each
    control character written as the \\xNN of its UTF-8 bytes (the C parsers:
    ESC as \\x1b, LS as \\xe2\\x80\\xa8), or as Python's repr writes it
    (\\n, \\x1b, \\x85, \\u2028)."""
    c_form = "".join("".join(f"\\x{b:02x}" for b in ch.encode()) if ch in RAW_CONTROLS else ch
                     for ch in needle)
    py_form = "".join(repr(ch)[1:-1] if ch in RAW_CONTROLS else ch for ch in needle)
    return {needle, c_form, py_form}


def one_line_naming(stderr, needle):
    """stderr (text) is exactly one printable line, 'cachewatch: ...', naming
    needle in one of its escaped_forms; returns the reason it is not, or
    None."""
    if not stderr:
        return "nothing was printed"
    body = stderr[:-1] if stderr.endswith("\n") else stderr
    if not stderr.endswith("\n") or any(ch in RAW_CONTROLS for ch in body):
        return f"not one printable line: {stderr!r}"
    if not body.startswith("cachewatch: "):
        return f"not a cachewatch line: {stderr!r}"
    rest = body[len("cachewatch: "):]
    if not any(form in rest for form in escaped_forms(needle)):
        return f"does not name {needle!r}: {stderr!r}"
    return None


@pytest.mark.parametrize("stderr,needle,ok", [
    ("cachewatch: unknown option 'frob'; not started\n", "frob", True),
    ("cachewatch: unknown option 'frob'\ncachewatch: second\n", "frob", False),
    ("cachewatch: unknown option 'frob'\r; not started\n", "frob", False),
    ("cachewatch: unknown option 'frob'", "frob", False),       # no end of line
    ("", "frob", False),
    ("cachewatch: something went wrong\n", "frob", False),      # does not name it
    ("Traceback (most recent call last):\n", "Traceback", False),
    ("warning: unknown option 'frob'\n", "frob", False),
    # A needle with control characters is named escaped: C's \xNN of each
    # UTF-8 byte, or repr's; never raw, and the escape must be its own.
    ("cachewatch: bad watch target 'a\\x1b[2Jb' (want ...)\n", "'a\x1b[2Jb'", True),
    ("cachewatch: bad watch target 'a\\nb' (want ...)\n", "'a\nb'", True),
    ("cachewatch: k.txt:1: bad suppression 'race\\x0dfill'\n", "'race\rfill'", True),
    ("cachewatch: malformed option '=\\xe2\\x80\\xa8'\n", "'=\u2028'", True),
    ("cachewatch: bad watch target 'a\\u2028b'\n", "'a\u2028b'", True),
    ("cachewatch: bad watch target 'a\\x85b'\n", "'a\x85b'", True),
    ("cachewatch: bad watch target 'a\\x1c[2Jb'\n", "'a\x1b[2Jb'", False),  # not its escape
    ("cachewatch: bad watch target 'a\\x1b[2Jb'\n", "'a\x1b[2Jc'", False),
    ("cachewatch: bad watch target 'a\x1b[2Jb'\n", "'a\x1b[2Jb'", False),    # raw ESC
    ("cachewatch: bad watch target 'a\u2028b'\n", "bad watch", False),      # raw LS
    ("cachewatch: bad watch target 'a\x85b'\n", "bad watch", False),        # raw NEL
    ("cachewatch: unknown option 'a\x7fb'\n", "unknown", False),            # raw DEL
    ("cachewatch: unknown option 'a\tb'\n", "unknown", False),              # raw TAB
])
def test_one_line_checker_can_fail(stderr, needle, ok):
    assert (one_line_naming(stderr, needle) is None) == ok


# ---- (a) watch targets ------------------------------------------------------

@settings(max_examples=3000 if FULL else 600, deadline=None)
@given(st.one_of(
    st.text(),
    st.text(alphabet=string.ascii_letters + string.digits + "_.:*-!", max_size=20),
    st.builds(lambda a, b: f"{a}:{b}", st.text(max_size=8), st.text(max_size=8)),
    st.builds(lambda a: f"{a}.*", st.text(max_size=8)),
))
def test_target_parse_gives_a_target_or_one_line_error(spec):
    from cachewatch import _targets

    _count("watch targets (parse)")
    try:
        module, name = _targets.parse(spec)
    except _targets.TargetError as exc:
        # The spec is named as its repr: quoted, escaped, one printable line.
        reason = one_line_naming(str(exc) + "\n", repr(spec))
        assert reason is None, reason
        return
    # A target: what the README says one is (a module, or a file for one).
    assert module and (all(part.isidentifier() for part in module.split(".")) or (
        (module.endswith(".py") or "/" in module) and module.isprintable() and
        not any(c.isspace() for c in module)))
    if name == ".*":
        assert spec == f"{module}.*"
    else:
        bare = name[:-2] if name.endswith("()") else name
        assert spec == f"{module}:{name}" and (
            name == "*" or all(part.isidentifier() for part in bare.split(".")))


@pytest.mark.parametrize("spec", ["myapp:CACHE\nEVIL", "a\x1b[2Jb", "a\rb:X", "a\u2028b",
                                  "a\x85b:X", "a\x7fb", "a\tb"])
def test_target_with_a_control_character_is_one_line(spec):
    from cachewatch import _targets

    _count("watch targets (parse)")
    with pytest.raises(_targets.TargetError) as info:
        _targets.parse(spec)
    message = str(info.value) + "\n"
    assert one_line_naming(message, f"'{spec}'") is None, one_line_naming(message, f"'{spec}'")
    assert message.startswith(f"cachewatch: bad watch target {spec!r} "), message


# ---- (b) options --------------------------------------------------------------

INT_RANGES = {  # option -> (lowest valid, highest valid or None)
    "exitcode": (0, 255), "max_frames": (1, 256), "history_size": (2, 16),
    "shadow_memory_mb": (0, 1 << 20), "max_reports": (1, None), "report_signal": (0, 64),
    "report_interval_s": (0, 2678400), "key_repr_max": (16, 4096), "pool_backlog": (1, None),
    "pool_wait_ms": (0, 86400000), "executor_leak_count": (2, None),
    "abandoned_ms": (0, 86400000), "thread_leak_grace_ms": (0, 86400000),
}
BOOLS = ["native_stacks", "dedup", "print_reports", "pool_strict", "thread_leaks"]
BOOL_WORDS = ["0", "1", "true", "false", "yes", "no", "on", "off"]
CATEGORIES = ["check-then-act", "write-write", "iteration", "lost-update", "unbounded-pool",
              "executor-leak", "abandoned-task", "thread-leak", "race", "pool", "thread", "all"]
TMP = tempfile.mkdtemp(prefix="cw-bad-input-")
UNUSABLE_SIGNALS = {9, 19, 32, 33}


def _valid_int(name, batch):
    lo, hi = INT_RANGES[name]
    if name == "report_signal":
        return st.sampled_from([0, 10, 12] if batch else [0, 10, 12, 1, 2, 15, 30, 64])
    if name == "report_interval_s":
        return st.just(0) if batch else st.one_of(st.integers(0, 10 ** 6), st.just(hi))
    if name == "thread_leak_grace_ms":
        return st.one_of(st.integers(0, 2000), st.just(hi))
    return st.integers(lo, hi if hi is not None else 2 ** 31)


def valid_item(batch):
    """(name, text) of one valid option the host does not notice."""
    ints = st.sampled_from(sorted(INT_RANGES)).flatmap(
        lambda n: _valid_int(n, batch).map(lambda v: (n, str(v))))
    bools = st.tuples(st.sampled_from(BOOLS), st.sampled_from(BOOL_WORDS))
    fail_on = st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=3).map(
        lambda c: ("fail_on", ",".join(c)))
    paths = st.tuples(st.sampled_from(["log_path", "json_path"]),
                      st.sampled_from([f"{TMP}/cw.%p.log", f"{TMP}/plain.txt"]))
    watch = st.tuples(st.just("watch"), st.sampled_from(
        ["__main__:CACHE", "json.*", "json:*", "__main__:CACHE,json.*"]))
    return st.one_of(ints, bools, fail_on, paths, watch)


NAMES = set(INT_RANGES) | set(BOOLS) | {"fail_on", "log_path", "json_path", "watch",
                                          "suppressions"}
token_chars = st.characters(blacklist_categories=("Cs", "Zs", "Cc"))


def invalid_item():
    """(name or None, text of the item, needle the line must contain)."""
    unknown = st.from_regex(r"\A[a-z_][a-z0-9_]{0,20}\Z").filter(lambda n: n not in NAMES).map(
        lambda n: (None, f"{n}=1", f"'{n}'"))
    wrong_type = st.tuples(st.sampled_from(sorted(INT_RANGES) + BOOLS),
                           st.text(token_chars, min_size=1, max_size=10)).filter(
        lambda t: t[1] not in BOOL_WORDS and not re.fullmatch(r"[+-]?\d+", t[1])).map(
        lambda t: (t[0], f"{t[0]}={t[1]}", f"'{t[0]}'"))

    def out_of_range(name):
        lo, hi = INT_RANGES[name]
        low = st.integers(-(2 ** 63), lo - 1)
        return (st.one_of(low, st.integers(hi + 1, 2 ** 63 - 1)) if hi is not None else low)
    ranges = st.sampled_from(sorted(INT_RANGES)).flatmap(
        lambda n: out_of_range(n).map(lambda v: (n, f"{n}={v}", f"'{n}'")))
    overflow = st.sampled_from(sorted(INT_RANGES)).flatmap(
        lambda n: st.integers(2 ** 63, 10 ** 30).map(lambda v: (n, f"{n}={v}", f"'{n}'")))
    malformed = st.text(st.sampled_from(string.ascii_letters + "_-.:/\"'"), min_size=1,
                        max_size=12).map(lambda w: (None, w, f"'{w}'"))
    no_name = st.text(token_chars, max_size=8).map(lambda v: (None, f"={v}", f"'={v}'"))
    long_name = st.integers(128, 300).map(lambda n: (None, "x" * n + "=1", "'" + "x" * 64))
    fail_on = st.from_regex(r"\A[a-z]{1,10}\Z").filter(lambda w: w not in CATEGORIES).map(
        lambda w: ("fail_on", f"fail_on=race,{w}", f"'{w}'"))
    bad_target = st.sampled_from(["1abc:X", "a:b:c", "a..b:X", "mod:", ":X", "a.b", "*", "a:1x",
                                  "a-b:X", "a.*.*", "é:x:y"])
    watch = st.tuples(st.sampled_from(["", "os:path,", "nonexistent.module:X,"]), bad_target).map(
        lambda t: ("watch", f"watch={t[0]}{t[1]}", f"'{t[1]}'"))
    log_path = st.sampled_from([f"{TMP}/no/such/dir/x.log", f"{TMP}", "/proc/version/x"]).map(
        lambda p: ("log_path", f"log_path={p}", f"'{p}'"))
    quoted = st.sampled_from([
        ('log_path="/tmp/a b.log"', "'b.log\"'", "log_path"),
        ("max_frames='8'", "'max_frames'", "max_frames"),
        ('json_path="x y"', "'y\"'", "json_path"),
        ('watch="__main__:CACHE"', "'\"__main__:CACHE\"'", "watch"),
        ('dedup="1"', "'dedup'", "dedup"),
    ]).map(lambda t: (t[2], t[0], t[1]))
    missing_supp = st.just(("suppressions", f"suppressions={TMP}/missing.txt",
                            f"'{TMP}/missing.txt' (No such file or directory)"))
    return st.one_of(unknown, wrong_type, ranges, overflow, malformed, no_name, long_name,
                     fail_on, watch, log_path, quoted, missing_supp)


SEPARATORS = st.sampled_from([" ", "  ", "\t", "\n", " \t "])


@st.composite
def options_case(draw, batch):
    """(text, needle or None): valid options with at most one bad item."""
    bad = draw(st.one_of(st.none(), invalid_item()))
    valid = draw(st.lists(valid_item(batch), max_size=4))
    if bad is not None:
        valid = [v for v in valid if v[0] != bad[0]]
    items = [f"{n}={v}" for n, v in valid]
    if bad is not None:
        items.insert(draw(st.integers(0, len(items))), bad[1])
    seps = [draw(SEPARATORS) for _ in items]
    text = draw(SEPARATORS.filter(lambda s: "\n" not in s)) if draw(st.booleans()) else ""
    text += "".join(item + sep for item, sep in zip(items, seps))
    return text, (None if bad is None else bad[2])


HOST = textwrap.dedent("""
    import threading
    CACHE = {}
    def host_workload():
        lock = threading.Lock()
        def work(i):
            for k in range(40):
                with lock:
                    CACHE[(i, k)] = i * k
        threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(CACHE.values())
""")
HOST_RESULT = sum(i * k for i in range(3) for k in range(40))


def _pth_line():
    path = os.path.join(sysconfig.get_paths()["purelib"], "cachewatch.pth")
    with open(path) as f:
        return f.read().strip()


BATCH_CHILD = HOST + textwrap.dedent("""
    import json, os, sys, tempfile
    import cachewatch._autostart as autostart
    from cachewatch import _service
    PTH = sys.argv[1]
    cases = json.load(sys.stdin)
    results = []
    for raw in cases:
        os.environ["CACHEWATCH_OPTIONS"] = os.fsdecode(bytes(raw))
        autostart._started = False
        capture = tempfile.TemporaryFile()
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            exec(PTH, {"os": os})          # exactly what site.py runs
            CACHE.clear()
            result = host_workload()
            _service._at_exit()             # as at the program's exit
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        results.append([result, capture.read().decode("utf-8", "surrogateescape")])
    print("RESULTS" + json.dumps(results))
""")


def _check(stderr, needle, where):
    if needle is None:
        assert stderr == "", f"valid options printed something ({where}): {stderr!r}"
    else:
        reason = one_line_naming(stderr, needle)
        assert reason is None, f"{where}: {reason}"


@settings(max_examples=40 if FULL else 6, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(options_case(batch=True), min_size=40, max_size=60))
def test_options_in_process_batches(cases):
    """Many CACHEWATCH_OPTIONS per child, each through the .pth line and the
    program-exit path, stderr captured at the descriptor."""
    payload = json.dumps([list(os.fsencode(text)) for text, _ in cases])
    proc = subprocess.run([sys.executable, "-c", BATCH_CHILD, _pth_line()], input=payload,
                          capture_output=True, text=True, env=child_env(), timeout=120)
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULTS")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    results = json.loads(line[0][7:])
    _count("options (in-process)", len(cases))
    for (text, needle), (result, stderr) in zip(cases, results):
        assert result == HOST_RESULT, f"host result changed under {text!r}"
        _check(stderr, needle, f"options {text!r}")


def _byte_escaped(data):
    """data as the non-UTF-8 message names it: each byte that is not
    printable ASCII as \\xNN."""
    return "".join(chr(b) if 0x20 <= b < 0x7f else f"\\x{b:02x}" for b in data)


@st.composite
def env_case(draw):
    """Options as the bytes of a real environment variable, some not UTF-8."""
    text, needle = draw(options_case(batch=False))
    extra = draw(st.sampled_from([None, None, None, "garbage", "control"]))
    data = text.encode()
    if extra == "garbage":
        # An unknown name of arbitrary bytes, first, so it is the one named.
        junk = draw(st.binary(min_size=1, max_size=6).filter(
            lambda b: not any(c in b for c in b" \t\n\r\v\f\x00=")
            and b.decode("latin-1") not in NAMES))
        data = junk + b"=1 " + data
        try:
            needle = f"'{junk.decode()}'"
        except UnicodeDecodeError:
            # Not UTF-8: the whole word is named, escaped.
            needle = f"option '{_byte_escaped(junk + b'=1')}' is not UTF-8 text"
    elif extra == "control" and needle is None:
        data = data + b" watch=a\x1b[2Jb"   # last, so this watch= wins
        needle = "'a\x1b[2Jb'"
    return data, needle


HOST_SCRIPT = HOST + textwrap.dedent("""
    import sys
    print("host result", host_workload())
    sys.stdout.flush()
    sys.exit(3)
""")


def _run_host(env_bytes, timeout=60, script=HOST_SCRIPT):
    env = {os.fsencode(k): os.fsencode(v) for k, v in child_env().items()}
    env[b"CACHEWATCH_OPTIONS"] = env_bytes
    return subprocess.run([sys.executable, "-c", script], capture_output=True, env=env,
                          timeout=timeout)


def _host_ok(proc):
    return proc.returncode == 3 and proc.stdout == f"host result {HOST_RESULT}\n".encode()


@settings(max_examples=300 if FULL else 60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(env_case())
def test_options_as_real_environment_variable(case):
    data, needle = case
    _count("options (environment)")
    proc = _run_host(data)
    assert proc.returncode == 3, (data, proc.stderr)
    assert proc.stdout == f"host result {HOST_RESULT}\n".encode(), (data, proc.stdout)
    stderr = proc.stderr.decode("utf-8", "replace")
    if needle is None:
        assert stderr == "", (data, stderr)
        return
    sig = re.search(rb"report_signal=(\d+)", data)
    reason = one_line_naming(stderr, needle)
    if reason and sig and int(sig.group(1)) in UNUSABLE_SIGNALS:
        reason = None  # checked in its own test
    assert reason is None, (data, reason)


def test_valid_options_print_nothing_as_environment_variable():
    texts = [b"max_frames=8 dedup=off fail_on=race,thread",
             b"watch=__main__:CACHE report_interval_s=3600 thread_leak_grace_ms=10",
             f"log_path={TMP}/cw.%p.log json_path={TMP}/r.json".encode(),
             b"report_interval_s=2678400 pool_wait_ms=86400000 abandoned_ms=86400000 "
             b"thread_leak_grace_ms=86400000"]
    _count("options (environment)", len(texts))
    for text in texts:
        proc = _run_host(text)
        assert (proc.returncode, proc.stdout, proc.stderr) == (
            3, f"host result {HOST_RESULT}\n".encode(), b""), text


@pytest.mark.parametrize("signum", sorted(UNUSABLE_SIGNALS))
def test_unusable_report_signal_is_one_line(signum):
    _count("options (environment)")
    proc = _run_host(f"report_signal={signum}".encode())
    assert _host_ok(proc)
    assert one_line_naming(proc.stderr.decode(), f"signal {signum}") is None, proc.stderr


def test_watch_target_that_does_not_exist_under_the_cli(tmp_path):
    """`cachewatch run --watch nonexistent.module:X`: the program runs; a
    line says the module does not exist, at start and again at exit."""
    _count("watch targets (cli)")
    script = tmp_path / "host.py"
    script.write_text(HOST_SCRIPT)
    proc = subprocess.run([sys.executable, "-m", "cachewatch", "run", "--watch",
                           "nonexistent.module:X", str(script)], capture_output=True, text=True,
                          env=child_env(), timeout=60)
    assert proc.returncode == 3 and proc.stdout == f"host result {HOST_RESULT}\n"
    lines = proc.stderr.splitlines()
    # The target line, at start and at exit, then the run's summary line.
    said = ("cachewatch: watch target nonexistent.module:X names no module "
            "(no module named 'nonexistent.module')")
    assert [l for l in lines if "nonexistent.module" in l] == [said, said], proc.stderr
    assert lines[-1] == "cachewatch: nothing found"


def test_watch_target_that_does_not_exist_under_the_environment_variable():
    """No such module at all (a typo): said as the program begins and again
    at exit; the host unharmed."""
    _count("watch targets (environment)")
    proc = _run_host(b"watch=nonexistent_mod:X")
    assert _host_ok(proc), proc.stderr
    said = ("cachewatch: watch target nonexistent_mod:X names no module "
            "(no module named 'nonexistent_mod')\n")
    assert proc.stderr.decode() == said + said


@pytest.mark.parametrize("spec", ["a..b:X", "a:b\x1bc"])
def test_bad_watch_target_under_the_cli(tmp_path, spec):
    _count("watch targets (cli)")
    script = tmp_path / "host.py"
    script.write_text(HOST_SCRIPT)
    proc = subprocess.run([sys.executable, "-m", "cachewatch", "run", "--watch", spec,
                           str(script)], capture_output=True, text=True, env=child_env(),
                          timeout=60)
    # The CLI refuses to run the program (exit 2) with one line.
    assert proc.returncode == 2 and proc.stdout == ""
    assert one_line_naming(proc.stderr, f"'{spec}'") is None, proc.stderr


# ---- once-known bugs on the options path, each with its exact input --------

@pytest.mark.parametrize("env_bytes,line", [
    # Not UTF-8: the whole word, escaped.
    (b"watch=\xff", "cachewatch: option 'watch=\\xff' is not UTF-8 text; not started\n"),
    (b"max_frames=8 fr\xffob=1 dedup=1",
     "cachewatch: option 'fr\\xffob=1' is not UTF-8 text; not started\n"),
    # A target pending (module not imported) before a bad one: only the bad one.
    (b"watch=nonexistent.mod:X,bad!!",
     "cachewatch: bad watch target 'bad!!' (want module:NAME, module:NAME.attr, module:Class(), "
     "module:*, package.* or path/to/file.py:NAME); not started\n"),
    # Out of range: one line naming the option, the host unharmed.
    (b"report_interval_s=9223372036854775807", None),
    (b"report_interval_s=2678401", None),
    (b"pool_wait_ms=86400001", None),
    (b"abandoned_ms=86400001", None),
    (b"thread_leak_grace_ms=86400001", None),
    (b"thread_leak_grace_ms=9223372036854775807", None),
])
def test_bad_option_exact_input_is_one_line(env_bytes, line):
    _count("exact inputs")
    proc = _run_host(env_bytes)
    assert _host_ok(proc), proc.stderr
    stderr = proc.stderr.decode("utf-8", "replace")
    if line is not None:
        assert stderr == line
    else:
        name = env_bytes.split(b"=")[0].decode()
        reason = one_line_naming(stderr, f"option '{name}' must be ")
        assert reason is None, reason


def test_suppressions_then_bad_watch_is_one_line(tmp_path):
    """A start failure after a valid suppressions file was read: only its
    own line, no 'never matched' lines."""
    _count("exact inputs")
    supp = tmp_path / "known.txt"
    supp.write_text("race:a\nrace:b\n")
    proc = _run_host(f"suppressions={supp} watch=bad!!".encode())
    assert _host_ok(proc), proc.stderr
    reason = one_line_naming(proc.stderr.decode(), "bad watch target 'bad!!'")
    assert reason is None, reason


def test_unwritable_json_path_is_said_once():
    """A directory that does not exist: said at start (not after the run),
    and the host runs unchecked."""
    _count("exact inputs")
    path = f"{TMP}/no/such/dir/r.json"
    proc = _run_host(f"json_path={path}".encode())
    assert _host_ok(proc), proc.stderr
    assert proc.stderr.decode() == (
        f"cachewatch: json_path '{path}': no such directory '{TMP}/no/such/dir'; not started\n")


@pytest.mark.parametrize("grace", [b"86400000", b"9223372036854775807"])
def test_thread_leak_grace_with_a_thread_still_running(grace):
    """The largest grace: nothing said; past it: one line naming the option.
    Either way the host, with a thread still running at exit, is unharmed."""
    _count("exact inputs")
    code = ("import threading, time\n"
            "threading.Thread(target=time.sleep, args=(1,)).start()\n"
            "print('host ok')\n")
    proc = _run_host(b"thread_leak_grace_ms=" + grace, script=code)
    assert proc.returncode == 0 and proc.stdout == b"host ok\n", proc.stderr
    stderr = proc.stderr.decode()
    if grace == b"86400000":
        assert stderr == ""
    else:
        reason = one_line_naming(stderr, "option 'thread_leak_grace_ms' must be 0-86400000")
        assert reason is None, reason


# ---- (c) suppressions files ------------------------------------------------

SUPP_TYPES = ["race", "pool", "thread"] + CATEGORIES[:8]


@st.composite
def suppression_file(draw):
    """(bytes, its lines, whether a NUL byte was put in)."""
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["ok", "ok", "ok", "blank", "comment", "bad"]))
        if kind == "ok":
            pattern = draw(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1,
                                   max_size=20).filter(lambda p: p.strip()))
            lines.append(f"{draw(st.sampled_from(SUPP_TYPES))}:{pattern}".encode())
        elif kind == "blank":
            lines.append(draw(st.sampled_from([b"", b"  ", b"\t", b"\r"])))
        elif kind == "comment":
            lines.append(b"# " + draw(st.binary(max_size=10)).replace(b"\n", b"").replace(
                b"\x00", b""))
        else:
            line = draw(st.one_of(
                st.sampled_from([b"bogus", b"data-race:x", b"race:", b"race : ", b":x",
                                 b"x" * 1100, b"race\rfill", b"race\x1b[2J", b"ra\x7fce:x"]),
                st.binary(min_size=1, max_size=20).filter(
                    lambda b: b"\n" not in b and b"\x00" not in b and b.strip()
                    and not b.strip().startswith(b"#"))))
            lines.append(line)
    data = b"\n".join(lines) + draw(st.sampled_from([b"", b"\n", b"\r\n"]))
    nul = draw(st.sampled_from([False] * 7 + [True]))
    if nul:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b"\x00" + data[at:]
    return data, lines, nul


def _valid_line(line):
    """None: blank or a comment; True: a suppression; False: an error."""
    if len(line) >= 1024:
        return False
    s = line.strip()
    if not s or s.startswith(b"#"):
        return None
    t, sep, p = s.partition(b":")
    # Whitespace around TYPE and PATTERN does not count ("race : x" is "race:x").
    return bool(sep and t.strip().decode("latin-1") in SUPP_TYPES and p.strip())


@settings(max_examples=150 if FULL else 25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(suppression_file())
def test_suppressions_file(case):
    data, lines, nul = case
    # Which line is really the first bad one (a random binary line may be valid).
    first_bad = next((i + 1 for i, l in enumerate(lines) if _valid_line(l) is False), None)
    n_ok = sum(1 for l in lines if _valid_line(l))
    _count("suppressions files")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "known.txt")
        with open(path, "wb") as f:
            f.write(data)
        proc = _run_host(f"suppressions={path}".encode())
    assert _host_ok(proc), (data, proc.stderr)
    stderr = proc.stderr.decode("utf-8", "replace")
    try:
        data.decode("utf-8")
        utf8 = True
    except UnicodeDecodeError:
        utf8 = False
    if nul:
        # The whole file refused, no line of it named.
        reason = one_line_naming(stderr, f"'{path}' (a NUL byte: not a text file)")
        assert reason is None, (data, reason)
    elif not utf8:
        # Patterns become Python text: a file that is not UTF-8 is refused whole.
        reason = one_line_naming(stderr, f"'{path}' (not UTF-8 text)")
        assert reason is None, (data, reason)
    elif first_bad is None:
        # Valid: only the end-of-run count of each suppression, one line each.
        got = stderr.splitlines()
        assert len(got) == n_ok and all(
            re.fullmatch(r"cachewatch: suppression .* never matched", l, re.S) for l in got), \
            (data, stderr)
    else:
        # One line naming the file and line; nothing of the file installed
        # (no 'never matched' line for its good lines).
        reason = one_line_naming(stderr, f"{path}:{first_bad}: ")
        assert reason is None, (data, reason)


def test_suppressions_file_errors_host_keeps_running(tmp_path):
    """Missing, a directory, unreadable, binary: one line each, the host runs."""
    binary = tmp_path / "binary.txt"
    with open(sys.executable, "rb") as f:
        binary.write_bytes(f.read(4096))
    unreadable = tmp_path / "unreadable.txt"
    unreadable.write_text("bogus\n")
    unreadable.chmod(0)
    cases = [(tmp_path / "missing.txt", f"'{tmp_path}/missing.txt' (No such file or directory)"),
             (binary, f"'{binary}' (a NUL byte: not a text file)"),
             (tmp_path, f"'{tmp_path}' (not a regular file)"),
             ("/dev/null", "'/dev/null' (not a regular file)")]
    if os.geteuid() != 0:  # root reads anything
        cases.append((unreadable, f"'{unreadable}' (Permission denied)"))
    failures = []
    for path, needle in cases:
        _count("suppressions files")
        proc = _run_host(f"suppressions={path}".encode())
        assert _host_ok(proc), proc.stderr
        reason = one_line_naming(proc.stderr.decode("utf-8", "replace"), needle)
        if reason is not None:
            failures.append(f"{path}: {reason}")
    assert failures == []


@pytest.mark.parametrize("content,needle", [
    (b"race\rfill\n", "known.txt:1: bad suppression 'race\rfill' (want TYPE:PATTERN)"),
    (b"race:a\nrace\x0bfill\n", "known.txt:2: bad suppression 'race\x0bfill'"),
    (b"race:a\n\nrace\x0cfill\n", "known.txt:3: bad suppression 'race\x0cfill'"),
    (b"race\xc2\x85fill\n", "known.txt:1: bad suppression 'race\x85fill'"),
    (b"race\xe2\x80\xa8fill\n", "known.txt:1: bad suppression 'race\u2028fill'"),
    (b"ra\x1bce:x\n", "known.txt:1: unknown suppression type 'ra\x1bce'"),
    (b"race:\n", "known.txt:1: suppression of type 'race' has no pattern"),
    (b"race :  \t\n", "known.txt:1: suppression of type 'race' has no pattern"),
])
def test_suppression_line_with_a_control_character_is_one_line(tmp_path, content, needle):
    _count("suppressions files")
    supp = tmp_path / "known.txt"
    supp.write_bytes(content)
    proc = _run_host(f"suppressions={supp}".encode())
    assert _host_ok(proc), proc.stderr
    reason = one_line_naming(proc.stderr.decode("utf-8", "replace"), needle)
    assert reason is None, reason


def test_suppressions_file_not_utf8_refused_and_host_runs(tmp_path):
    """A Latin-1 file used to load, then break the report at exit."""
    _count("suppressions files")
    supp = tmp_path / "known.txt"
    supp.write_bytes(b"race:caf\xe9\n")
    proc = _run_host(f"suppressions={supp}".encode())
    assert _host_ok(proc), proc.stderr
    assert proc.stderr.decode() == (f"cachewatch: cannot read suppressions file '{supp}' "
                                    "(not UTF-8 text); not started\n")


@pytest.mark.parametrize("content", [b"race:a\x00\nbogus\n", b"\x00", b"race:a\nrace:b\x00"])
def test_nul_in_suppressions_file_refuses_the_file(tmp_path, content):
    _count("suppressions files")
    supp = tmp_path / "known.txt"
    supp.write_bytes(content)
    proc = _run_host(f"suppressions={supp}".encode())
    assert _host_ok(proc), proc.stderr
    assert proc.stderr.decode() == (f"cachewatch: cannot read suppressions file '{supp}' "
                                    "(a NUL byte: not a text file); not started\n")


def test_suppressions_all_or_none_and_cleared_at_each_start(tmp_path):
    _count("suppressions files", 4)
    bad = tmp_path / "bad.txt"
    bad.write_text("race:a\nrace:b\nbogus\n")
    good = tmp_path / "good.txt"
    good.write_text("race:c\n")
    spaced = tmp_path / "spaced.txt"
    spaced.write_text("race: foo\n  pool\t:\tbar  \n")
    code = textwrap.dedent(f"""
        import cachewatch
        from cachewatch import _cachewatch
        def patterns():
            return [(s["type"], s["pattern"]) for s in _cachewatch.suppressions()]
        for _ in range(2):
            try:
                cachewatch.start("suppressions={bad}")
            except ValueError:
                pass
            print(patterns())
        cachewatch.start("suppressions={good}")
        print(patterns())
        cachewatch.stop(quiet=True)
        cachewatch.start("suppressions={good}")
        print(patterns())
        cachewatch.stop(quiet=True)
        cachewatch.start("suppressions={spaced}")
        print(patterns())
        cachewatch.stop(quiet=True)
        cachewatch.start()
        print(patterns())
        cachewatch.stop(quiet=True)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=child_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "[]", "[]",                                   # a bad file adds nothing, retried too
        "[('race', 'c')]", "[('race', 'c')]",        # no piling up across stop/start
        "[('race', 'foo'), ('pool', 'bar')]",         # whitespace around TYPE, PATTERN trimmed
        "[]",                                         # a start without the option: none
    ], proc.stdout
