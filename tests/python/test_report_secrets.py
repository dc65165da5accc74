"""Reports can hold secrets (a cache keyed by connection URLs, as Nova's
CELL_CACHE): key reprs are redacted by pattern and cut to a length, and the
files reports go to are readable by their owner only."""
import json
import os
import textwrap

from helpers import run_code

# One check-then-act on a key chosen by the test, in text and JSON.
RACE_ON_KEY = """
import json, sys, threading, cachewatch
cachewatch.start(sys.argv[1] if len(sys.argv) > 1 else {options!r})
CACHE = {{}}
cachewatch.watch(CACHE, name="app.CACHE")
KEY = {key}
def fill():
    if KEY not in CACHE:
        CACHE[KEY] = 1
ts = [threading.Thread(target=fill) for _ in range(2)]
[t.start() for t in ts]
[t.join() for t in ts]
print(json.dumps([f["key"] for f in cachewatch.findings()]))
"""


def race_on(key, options=""):
    proc = run_code(textwrap.dedent(RACE_ON_KEY.format(key=key, options=options)))
    assert proc.returncode == 0, proc.stderr
    keys = json.loads(proc.stdout)
    assert len(keys) == 1, proc.stderr
    return keys[0], proc.stderr


def test_default_redacts_password_in_url_key():
    key, text = race_on("'mysql+pymysql://nova:s3cret@db.example/nova'")
    assert key == "'mysql+pymysql://<redacted>db.example/nova'"
    assert "s3cret" not in text
    assert "Key: 'mysql+pymysql://<redacted>db.example/nova'" in text


def test_user_pattern_and_no_redaction():
    key, text = race_on("('tenant-1234', 'api-key-9f8e7d')", "redact=api-key-[0-9a-f]+")
    assert key == "('tenant-1234', '<redacted>')"
    assert "9f8e7d" not in text
    key, _ = race_on("'mysql://u:p@h/x'", "redact=")
    assert key == "'mysql://u:p@h/x'"


def test_long_key_cut_between_utf8_characters():
    # 3-byte characters after the quote: a cut at 17 bytes falls inside one.
    key, text = race_on("'\u20ac' * 300", "key_repr_max=17")
    assert key == "'\u20ac\u20ac\u20ac\u20ac\u20ac... (repr of 302 characters)"
    assert "\u20ac" * 6 not in text


def test_bad_redact_pattern_is_one_line():
    proc = run_code("import cachewatch\ncachewatch.start('redact=a(b')\n")
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "option 'redact' is not a valid extended regular expression" in last


def test_log_file_created_owner_only(tmp_path):
    log = tmp_path / "cw.log"
    old = os.umask(0)  # even with a permissive umask
    try:
        key, text = race_on("'k'", f"log_path={log}")
    finally:
        os.umask(old)
    assert "check-then-act race on app.CACHE" in log.read_text()
    assert "check-then-act" not in text
    assert oct(log.stat().st_mode & 0o777) == "0o600"


# Long keys: the work per key is bounded by key_repr_max, not by the key.
# With the repr made whole and redacted whole (quadratic in its length) a
# key of 10**5 characters took 82 s; these take a moment, or time out.
LONG_KEYS = """
import json, sys, threading, cachewatch
cachewatch.start("dedup=0")
class Big:
    def __repr__(self):
        return "B" * 10**7
BIG = Big()
KEYS = [
    "mysql://nova:s3cret@db/" + "x" * 10**6,
    b"y" * 10**6,
    ("z" * 10**6, "password=hunter2", 7),
    2 ** (10**6),
    BIG,
]
CACHE = {}
cachewatch.watch(CACHE, name="app.CACHE")
def fill(key):
    if key not in CACHE:
        CACHE[key] = 1
for key in KEYS:
    ts = [threading.Thread(target=fill, args=(key,)) for _ in range(3)]
    [t.start() for t in ts]
    [t.join() for t in ts]
print(json.dumps(list(dict.fromkeys(f["key"] for f in cachewatch.findings()))))
"""


def test_long_keys_bounded_and_redacted():
    proc = run_code(LONG_KEYS, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    keys = json.loads(proc.stdout)
    assert len(keys) == 5, keys
    url, raw, tup, big_int, big_obj = keys
    for key in keys:
        assert len(key.encode()) <= 200 + 40, key
    assert url.startswith("'mysql://<redacted>db/xxx") and url.endswith("... (str of 1000023 characters)")
    assert raw.startswith("b'yyy") and raw.endswith("... (bytes of 1000000 characters)")
    # A tuple's long item is cut inside the tuple; the secret after it never shows.
    assert tup.startswith("('zzz") and tup.endswith("...")
    assert big_int == "<int of 1000001 bits>"
    assert big_obj == "B" * 200 + "... (repr of 10000000 characters)"
    assert "s3cret" not in proc.stderr and "hunter2" not in proc.stderr


def test_secret_straddling_the_cut_is_hidden():
    # The password starts 6 bytes before the cut at 32 and runs past it.
    key, text = race_on("'x' * 12 + 'mysql://nova:' + 'p' * 40 + '@db/nova'", "key_repr_max=32")
    assert key.startswith("'xxxxxxxxxxxxmysql://<redacted>")
    assert "ppp" not in text and "nova:" not in text


def test_keys_whose_own_code_fails_still_print():
    # A tuple subclass whose __len__ raises (its repr is tuple's), and a key
    # whose __repr__ raises: the report says what it can, the program runs on.
    key, _ = race_on("type('T', (tuple,), {'__len__': lambda self: 1 // 0})(('a', 'b'))")
    assert key == "('a', 'b')"
    key, _ = race_on("type('R', (), {'__repr__': lambda self: 1 // 0})()")
    assert key == "<unprintable key>"
