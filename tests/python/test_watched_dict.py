"""A watched dict behaves exactly like a plain dict: same results, same
exceptions, same identity; pickle, copy and deepcopy give plain dicts."""
import collections.abc
import copy
import json
import pickle

import pytest

import cachewatch


@pytest.fixture
def pair():
    cachewatch.start()
    plain = {"a": 1, "b": [2], 3: "c"}
    watched = dict(plain)
    watched["self"] = watched
    plain["self"] = plain
    alias = watched
    cachewatch.watch(watched, name="test.watched")
    yield plain, watched, alias
    cachewatch.stop()


def outcome(fn):
    try:
        return ("ok", fn())
    except Exception as exc:  # compare the exception, not its identity
        return ("raised", type(exc), str(exc))


OPERATIONS = [
    lambda d: d["a"],
    lambda d: d["missing"],
    lambda d: d.get("a"),
    lambda d: d.get("missing", 5),
    lambda d: "a" in d,
    lambda d: d.setdefault("a", 9),
    lambda d: d.setdefault("new", 9),
    lambda d: d.pop("b"),
    lambda d: d.pop("nope", None),
    lambda d: d.pop("nope"),
    lambda d: d.update({"x": 1}, y=2),
    lambda d: d.update([("z", 3), ("bad",)]),
    lambda d: d.__ior__({"w": 4}) is d,
    lambda d: d.__ior__(5),
    lambda d: sorted(map(str, d.keys())),
    lambda d: sorted(map(repr, d.values())),
    lambda d: len(d.items()),
    lambda d: d.keys() == {"a", "b", 3, "self"},
    lambda d: sorted(map(str, d.keys() & {"a", "q"})),
    lambda d: sorted(map(str, {"a", "q"} - d.keys())),
    lambda d: d.keys().isdisjoint({"zz"}),
    lambda d: ("a", 1) in d.items(),
    lambda d: [str(k) for k in reversed(d)],
    lambda d: [str(k) for k in reversed(d.keys())],
    lambda d: list(iter(d.values()).__length_hint__() for _ in range(1)),
    lambda d: len(d),
    lambda d: d == {"a": 1},
    lambda d: d.popitem()[0],
    lambda d: d.clear(),
    lambda d: d.copy() == d,
    lambda d: isinstance(d.keys(), collections.abc.KeysView),
    lambda d: isinstance(d.items(), collections.abc.ItemsView),
    lambda d: isinstance(d, dict),
    lambda d: type(d).__name__,
    lambda d: repr({k: v for k, v in d.items() if k != "self"}),
    lambda d: d | {"q": 1} == {**d, "q": 1},
]


@pytest.mark.parametrize("index", range(len(OPERATIONS)))
def test_same_results_as_plain(pair, index):
    plain, watched, alias = pair
    op = OPERATIONS[index]
    assert outcome(lambda: op(watched)) == outcome(lambda: op(plain))
    # Same state afterwards (compared without the self-reference).
    strip = lambda d: {k: v for k, v in d.items() if k != "self"}
    assert strip(watched) == strip(plain)
    assert alias is watched


def test_pickle_copy_deepcopy_give_plain_dicts(pair):
    plain, watched, _ = pair
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(watched, proto))
        assert type(back) is dict
        assert back["self"] is back
        assert back["a"] == 1
    shallow = copy.copy(watched)
    assert type(shallow) is dict and shallow["self"] is watched
    deep = copy.deepcopy(watched)
    assert type(deep) is dict and deep["self"] is deep and deep["b"] == [2]
    assert json.dumps({k: v for k, v in watched.items() if k != "self"}) == \
        json.dumps({k: v for k, v in plain.items() if k != "self"})


def test_type_of_watched_is_a_dict_subclass_named_dict(pair):
    _, watched, _ = pair
    assert isinstance(watched, dict)
    assert type(watched).__name__ == "dict"
    assert type(watched)() == {} and type(type(watched)(a=1)) is dict


def test_unwatch_and_stop_give_back_a_plain_dict():
    cachewatch.start()
    d = {"k": 1}
    cachewatch.watch(d, name="t.d")
    assert type(d) is not dict
    cachewatch.unwatch(d)
    assert type(d) is dict
    cachewatch.watch(d, name="t.d")
    cachewatch.stop()
    assert type(d) is dict
    assert d == {"k": 1}


def test_watch_refuses_what_it_cannot_watch():
    cachewatch.start()
    try:
        with pytest.raises(TypeError, match="^cachewatch cannot watch a tuple, which has no state"):
            cachewatch.watch((1, 2))
        with pytest.raises(cachewatch.TargetError, match="bad watch target 'nocolon'"):
            cachewatch.watch("nocolon")
    finally:
        cachewatch.stop()
    with pytest.raises(RuntimeError, match="not started"):
        cachewatch.watch({})


@pytest.mark.parametrize("pop", ["popitem", "pop"])
def test_ordereddict_pops_are_seen_as_one_operation(pop):
    """OrderedDict's own pop and popitem take entries without the dict slots
    (3.10+) or through them (3.9): either way one operation, seen. A pop of
    the key another thread checked and is about to write is a check-then-act;
    pops from two threads alone are not."""
    import collections
    import threading
    import time

    cachewatch.start("print_reports=0 thread_leaks=0")
    try:
        cache = collections.OrderedDict([(0, 0), (1, 1), (2, 2)])
        cachewatch.watch(cache, name=f"t.od_{pop}")

        def check_and_act():
            v = cache.get(0)
            time.sleep(0.05)
            cache[0] = (v or 0) + 1

        def take():
            time.sleep(0.01)
            cache.popitem(last=False) if pop == "popitem" else cache.pop(0)
        threads = [threading.Thread(target=f) for f in (check_and_act, take)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        mine = [f for f in cachewatch.findings() if f["target"] == f"t.od_{pop}"]
        assert [f["category"] for f in mine] == ["check-then-act"], mine
        assert {a["op"] for a in mine[0]["accesses"]} == {"setitem", pop}
        # Two threads popping, nothing else: single operations, no finding.
        cachewatch.watch(pops := collections.OrderedDict.fromkeys(range(50)), name="t.pops")
        threads = [threading.Thread(target=lambda: [pops.popitem(last=False)
                                                    for _ in range(20)]) for _ in range(2)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert not [f for f in cachewatch.findings() if f["target"] == "t.pops"]
    finally:
        cachewatch.stop()
