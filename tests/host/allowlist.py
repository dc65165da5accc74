"""Outcome changes that are explained, one line of reason each. Anything not
here that differs between plain and watched fails the comparison, and an
entry whose test no longer differs fails too (remove it).

EXPECTED: a watched dict is, by design, an instance of a C subclass of dict
put in place of dict's type, so code that asks about the exact type, or that
CPython only does for exact dicts, sees a difference.
KNOWN-BUG: a behavioural difference a user can hit; reported, kept visible
here (and in the pytest output) until cachewatch is fixed."""

EXPECTED, KNOWN_BUG = "expected", "known-bug"

# suite -> mode -> test id -> (plain outcome, watched outcome, kind, reason)
_ENTRIES = {
    "test_dict": {
        "dicts": {
            "test.test_dict.DictTest.test_track_dynamic":
                ("pass", "fail", EXPECTED,
                 "the GC untracks only exact dicts (_PyDict_MaybeUntrack), so a watched "
                 "dict of atomic values stays gc-tracked"),
            "test.test_dict.DictTest.test_setdefault_atomic":
                ("pass", "fail", KNOWN_BUG,
                 "recording a key hashes it again: a key's __hash__ runs twice per "
                 "operation on a watched dict"),
            "test.test_dict.DictTest.test_setitem_atomic_at_resize":
                ("pass", "fail", KNOWN_BUG,
                 "as above: d[k] = v on a watched dict calls k.__hash__ twice"),
            "test.test_dict.DictTest.test_merge_and_mutate":
                ("pass", "fail", KNOWN_BUG,
                 "dict.update(watched)/dict(watched)/{**watched} take the generic mapping "
                 "path (tp_iter is overridden), which has no 'dict mutated during update' "
                 "check"),
        },
    },
    "test_threading": {
        "watched": {
            "test.test_threading.ThreadTests.test_import_from_another_thread":
                ("pass", "fail", EXPECTED,
                 "started from the environment, cachewatch imports threading at interpreter "
                 "start, so the test's child finds it already imported"),
        },
    },
}


def allowed(suite, mode):
    """test id -> (plain outcome, watched outcome, reason) for compare.py."""
    entries = _ENTRIES.get(suite, {}).get(mode, {})
    return {t: (a, b, f"{kind}: {why}") for t, (a, b, kind, why) in entries.items()}


def known_bugs():
    """Every KNOWN-BUG entry, for the pytest summary."""
    return [(suite, mode, t, why) for suite, modes in _ENTRIES.items()
            for mode, entries in modes.items()
            for t, (_, _, kind, why) in entries.items() if kind == KNOWN_BUG]
