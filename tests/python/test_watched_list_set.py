"""A watched list or set behaves exactly like a plain one: same results,
same exceptions, same state after; pickle, copy and deepcopy give plain
ones."""
import copy
import pickle

import pytest

import cachewatch


def outcome(fn):
    try:
        return ("ok", fn())
    except Exception as exc:
        return ("raised", type(exc), str(exc))


LIST_OPS = [
    lambda l: l[0], lambda l: l[-1], lambda l: l[99], lambda l: l[1:3], lambda l: l["x"],
    lambda l: l.__setitem__(1, "z"), lambda l: l.__setitem__(slice(0, 2), [9, 9, 9]),
    lambda l: l.__delitem__(0), lambda l: l.__delitem__(slice(1, None)),
    lambda l: 3 in l, lambda l: "q" in l, lambda l: len(l), lambda l: bool(l),
    lambda l: l.append(7), lambda l: l.extend([8, 9]), lambda l: l.insert(1, "i"),
    lambda l: l.pop(), lambda l: l.pop(0), lambda l: l.pop(50), lambda l: l.remove(3),
    lambda l: l.remove("nope"), lambda l: l.index(2), lambda l: l.index("nope"),
    lambda l: l.count(2), lambda l: l.clear(), lambda l: l.sort(key=str),
    lambda l: l.sort(), lambda l: l.reverse(), lambda l: list(reversed(l)),
    lambda l: [x for x in l], lambda l: l.__iadd__([1]) is l, lambda l: l.__imul__(2) is l,
    lambda l: l + [1], lambda l: l * 2, lambda l: l == [1, 2, 3, 2], lambda l: repr(l),
    lambda l: sorted(map(str, l)), lambda l: tuple(l), lambda l: isinstance(l, list),
    lambda l: type(l).__name__, lambda l: l.copy(),
]

SET_OPS = [
    lambda s: 1 in s, lambda s: "q" in s, lambda s: len(s), lambda s: s.add(1),
    lambda s: s.add(5), lambda s: s.discard(1), lambda s: s.discard(42), lambda s: s.remove(2),
    lambda s: s.remove(42), lambda s: type(s.pop()), lambda s: s.clear(),
    lambda s: s.update([7, 8], {9}), lambda s: s.difference_update({1}),
    lambda s: s.intersection_update({1, 2}), lambda s: s.symmetric_difference_update({1, 99}),
    lambda s: s.__ior__({4}) is s, lambda s: s.__iand__({1, 4}) is s,
    lambda s: s.__isub__({1}) is s, lambda s: s.__ixor__({2, 5}) is s, lambda s: s.__ior__(5),
    lambda s: sorted(s | {0}), lambda s: sorted(s & {1}), lambda s: sorted(s - {1}),
    lambda s: s == {1, 2, 3}, lambda s: s <= {1, 2, 3, 4}, lambda s: sorted(x for x in s),
    lambda s: isinstance(s, set), lambda s: type(s).__name__, lambda s: s.copy() == s,
    lambda s: s.isdisjoint({9}), lambda s: sorted(s.union([0])),
]


@pytest.fixture
def started():
    cachewatch.start()
    yield
    cachewatch.stop()


@pytest.mark.parametrize("index", range(len(LIST_OPS)))
def test_list_same_as_plain(started, index):
    plain, watched = [1, 2, 3, 2], [1, 2, 3, 2]
    cachewatch.watch(watched, name="test.watched_list")
    op = LIST_OPS[index]
    assert outcome(lambda: op(watched)) == outcome(lambda: op(plain))
    assert list(watched) == plain


@pytest.mark.parametrize("index", range(len(SET_OPS)))
def test_set_same_as_plain(started, index):
    plain, watched = {1, 2, 3}, {1, 2, 3}
    cachewatch.watch(watched, name="test.watched_set")
    op = SET_OPS[index]
    assert outcome(lambda: op(watched)) == outcome(lambda: op(plain))
    assert set(watched) == plain


def test_pickle_copy_give_plain_containers(started):
    lst = [1, [2]]
    lst.append(lst)
    s = {1, 2, "x"}
    cachewatch.watch(lst, name="t.l")
    cachewatch.watch(s, name="t.s")
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(lst, proto))
        assert type(back) is list and back[2] is back and back[1] == [2]
        assert pickle.loads(pickle.dumps(s, proto)) == {1, 2, "x"}
        assert type(pickle.loads(pickle.dumps(s, proto))) is set
    deep = copy.deepcopy(lst)
    assert type(deep) is list and deep[2] is deep
    assert type(copy.copy(s)) is set and copy.copy(s) == s
    assert type(type(lst)()) is list and type(type(s)([1])) is set


def test_stop_gives_back_plain_types():
    cachewatch.start()
    lst, s = [1], {1}
    cachewatch.watch(lst, name="t.l")
    cachewatch.watch(s, name="t.s")
    assert type(lst) is not list and type(s) is not set
    cachewatch.stop()
    assert type(lst) is list and type(s) is set
