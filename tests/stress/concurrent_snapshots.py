"""Snapshots of a container taken while another thread changes it.

Run as `concurrent_snapshots.py plain|watched`: for each way of taking a
snapshot of a dict, a list and a set (copy.copy, pickle, d.copy(), list(d),
...), one thread takes it again and again while a second thread inserts and
removes (switch interval 1 us), and the errors each way raised are counted. A
snapshot that is one C-level operation on the plain container raises
nothing; watching must not change that. deepcopy walks the container in
Python and raises on the plain one too: it must still raise when watched,
and be seen as a loop (an iteration finding)."""
import copy
import json
import pickle
import sys
import threading

from _common import result, scale

MODE = sys.argv[1]
ROUNDS = scale(60, 400)
SNAPSHOTS = {
    "dict": {
        "copy.copy": copy.copy,
        "copy.deepcopy": copy.deepcopy,
        "pickle": lambda d: pickle.loads(pickle.dumps(d)),
        "d.copy()": lambda d: d.copy(),
        "dict(d)": dict,
        "{**d}": lambda d: {**d},
        "list(d)": list,
        "list(d.items())": lambda d: list(d.items()),
        "sorted(d)": sorted,
        "json.dumps": json.dumps,
    },
    "list": {
        "copy.copy": copy.copy,
        "copy.deepcopy": copy.deepcopy,
        "pickle": lambda l: pickle.loads(pickle.dumps(l)),
        "l[:]": lambda l: l[:],
        "list(l)": list,
        "tuple(l)": tuple,
        "l.copy()": lambda l: l.copy(),
        "json.dumps": json.dumps,
    },
    "set": {
        "copy.copy": copy.copy,
        "copy.deepcopy": copy.deepcopy,
        "pickle": lambda s: pickle.loads(pickle.dumps(s)),
        "s.copy()": lambda s: s.copy(),
        "set(s)": set,
        "frozenset(s)": frozenset,
        "sorted(s)": sorted,
    },
}
INSERT = {
    "dict": lambda c, i: c.__setitem__(f"k{i}", i),
    "list": lambda c, i: c.append(f"k{i}"),
    "set": lambda c, i: c.add(f"k{i}"),
}
# The changing thread keeps the size near 500: it removes what it added 100
# insertions ago.
REMOVE = {
    "dict": lambda c, i: c.pop(f"k{i}", None),
    "list": lambda c, i: c.remove(f"k{i}"),
    "set": lambda c, i: c.discard(f"k{i}"),
}


def race(kind, snapshot):
    """Errors raised by ROUNDS snapshots taken while a thread inserts."""
    box = {"dict": {}, "list": [], "set": set()}[kind]
    for i in range(500):
        INSERT[kind](box, -i - 1)
    if MODE == "watched":
        import cachewatch
        cachewatch.watch(box, name=f"snapshots.{kind}")
    stop = threading.Event()

    def insert():
        i = 0
        while not stop.is_set():
            INSERT[kind](box, i)
            if i >= 100:
                REMOVE[kind](box, i - 100)
            i += 1

    errors = {}
    inserter = threading.Thread(target=insert)
    inserter.start()
    try:
        for _ in range(ROUNDS):
            try:
                snap = snapshot(box)
                if kind != "set" and not isinstance(snap, str):
                    assert type(snap) in (dict, list, tuple, set, frozenset), type(snap)
            except Exception as exc:  # counted: what the plain run raises is the reference
                name = type(exc).__name__
                errors[name] = errors.get(name, 0) + 1
    finally:
        stop.set()
        inserter.join()
    return errors


def main():
    sys.setswitchinterval(1e-6)
    if MODE == "watched":
        import cachewatch
        cachewatch.start("print_reports=0")
    counts = {f"{kind} {name}": race(kind, fn)
              for kind, ways in SNAPSHOTS.items() for name, fn in ways.items()}
    findings = []
    if MODE == "watched":
        import cachewatch
        findings = sorted({(f["category"], f["target"]) for f in cachewatch.findings()})
    result(rounds=ROUNDS, errors=counts, findings=findings)


if __name__ == "__main__":
    main()
