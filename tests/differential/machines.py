"""Differential state machines: a WATCHED dict, list or set against a PLAIN
twin. Every rule applies one operation to both and asserts the same result
(normalised), the same exception (type and message) and the same contents
after it (same objects, same order).

The watched side is run in one of several ways, changed by rules: in the
calling thread, in a fresh thread (start + join), in a worker thread that
cachewatch sees as unordered with the main one (started before checking
began, fed through os pipes, which are no hand-off: races get reported, so
the reporting path runs), and with the hooks' "busy" flag set (the hooks'
not-ready paths). Other rules unwatch and re-watch the container.

The module needs cachewatch started (run_machines.py does that in a child
process) unless a machine's WATCHING is False (the harness self-test, which
plugs a deliberately wrong container in as "watched").

Known cachewatch bugs are kept out of the generated inputs unless
CACHEWATCH_DIFF_KNOWN=1 (each has a strict-xfail reproducer in
tests/python/test_differential.py); `skipped` counts the steps left out.
"""
import collections
import copy
import json
import math
import os
import pickle
import re
import sys
import threading
import weakref

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

INCLUDE_KNOWN = os.environ.get("CACHEWATCH_DIFF_KNOWN") == "1"

# ---- counters the driver reports -------------------------------------------

COUNTS = collections.Counter()        # "<machine>.sequences", "<machine>.steps", ...
LIMITATIONS = collections.Counter()   # documented differences seen (not failures)


# ---- the objects operations use ------------------------------------------


class K:
    """A key with a Python-level __hash__ and __eq__ (collides with ints)."""

    def __init__(self, v):
        self.v = v

    def __hash__(self):
        return hash(self.v)

    def __eq__(self, other):
        return isinstance(other, K) and other.v == self.v

    def __lt__(self, other):
        if not isinstance(other, K):
            return NotImplemented
        return self.v < other.v

    def __repr__(self):
        return f"K({self.v})"


class BadEq:
    """Hash 3 (collides with 3 and K(3)); comparing it raises."""

    def __hash__(self):
        return 3

    def __eq__(self, other):
        raise ValueError("BadEq.__eq__ refuses")

    def __repr__(self):
        return "BadEq()"


class BadHash:
    def __hash__(self):
        raise ValueError("BadHash.__hash__ refuses")

    def __repr__(self):
        return "BadHash()"


class BadRepr:
    def __hash__(self):
        return 4

    def __repr__(self):
        raise RuntimeError("BadRepr.__repr__ refuses")

    def _repr_pretty_(self, p, cycle):  # how hypothesis prints it in a failing example
        p.text("BADREPR")


NAN1 = float("nan")
NAN2 = float("nan")
BADEQ = BadEq()
BADREPR = BadRepr()
HASHABLE = [0, 1, 2, 3, -1, 2 ** 70, True, False, 1.0, 2.5, NAN1, NAN2, "a", "b", "", "k",
            None, (1, 2), (1, "a"), frozenset({1}), frozenset(), b"x", K(1), K(2), K(3),
            (K(1),), BADEQ, BADREPR]
UNHASHABLE = [[], [1], {}, {"a": 1}, {1}, set(), BadHash()]
VALUES = [0, 1, 2, -5, "v", "", None, NAN1, 2.5, (1,), K(1), True, [1, 2], {"x": 1}]
SORTABLE = [0, 1, 2, -5, 7, 2.5, True, 1.0]
NEW = [("new", i) for i in range(64)]  # what loops add: the same objects on both sides
POOL = HASHABLE + UNHASHABLE + VALUES + NEW
POOL_IDS = {id(o): i for i, o in enumerate(POOL)}


class _Marker:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


SELF = _Marker("SELF")   # stands for the side's own container
PEER = _Marker("PEER")   # stands for the side's peer container (same kind)


def is_real_view(x):
    return type(x) in (type({}.keys()), type({}.values()), type({}.items()))


def is_cw_view(x):
    return type(x).__name__ in VIEW_NAMES and not is_real_view(x)


def hash_or_none(key):
    try:
        return hash(key)
    except Exception:
        return None


def pick(seq):
    """sampled_from without hashing or repr-ing the elements (some refuse)."""
    seq = list(seq)

    def element(i):
        return seq[i]
    return st.integers(0, len(seq) - 1).map(element)


hashable = pick(HASHABLE)
anykey = pick(HASHABLE + UNHASHABLE)
values = pick(VALUES)
small_int = st.integers(-6, 6)


# ---- normalising results -------------------------------------------------

VIEW_NAMES = {"dict_keys", "dict_values", "dict_items"}
CONTAINERS = (dict, list, set, frozenset, tuple)


def sr(x):
    """repr that never raises (labels hold keys whose repr raises)."""
    try:
        return repr(x)
    except Exception as exc:
        return f"<{type(x).__name__}: repr raised {type(exc).__name__}>"


def safe_str(x):
    try:
        return str(x)
    except Exception as exc:
        return f"<str raised {type(exc).__name__}>"


def norm(x, side, memo=None):
    """A comparable picture of a result: the side's own container and peer
    become tokens, pool objects their index, containers their exact type and
    their items in order, cycles the order they were first met."""
    if memo is None:
        memo = {}
    if x is side.c:
        return ("SELF",)
    if x is side.peer:
        return ("PEER",)
    i = POOL_IDS.get(id(x))
    if i is not None and POOL[i] is x:
        return ("pool", i)
    t = type(x)
    if t in (int, bool, str, bytes, type(None), complex):
        return (t.__name__, x)
    if t is float:
        return ("float", "nan" if math.isnan(x) else x)
    if isinstance(x, BaseException):
        return ("exc", t, safe_str(x))
    if id(x) in memo:
        return ("cycle", memo[id(x)])
    memo[id(x)] = len(memo)
    if isinstance(x, (dict, list, set, frozenset, tuple)):
        if t not in CONTAINERS:
            # a watched container that is not this side's own: say so
            name = "watched-" + t.__name__ if side.is_watched_type(x) else t.__name__
        else:
            name = t  # exact type: a copy must be a plain one on both sides
        if isinstance(x, dict):
            items = tuple((norm(k, side, memo), norm(v, side, memo)) for k, v in dict.items(x))
        elif isinstance(x, (set, frozenset)):
            # a result set compares as a set: its iteration order is checked
            # apart (copy.copy of a set, see SetMachine.copy_copy)
            items = tuple(sorted((norm(e, side, memo) for e in x), key=repr))
        else:
            items = tuple(norm(e, side, memo) for e in t.__iter__(x)) if t in CONTAINERS \
                else tuple(norm(e, side, memo) for e in x)
        return (name, items)
    if t.__name__ in VIEW_NAMES:
        side.note_type(x, "view")
        return (t.__name__, tuple(norm(e, side, memo) for e in list(x)))
    if t.__name__ == "mappingproxy":
        return ("mappingproxy", norm(dict(x), side, memo))
    if isinstance(x, type):
        return ("type", x.__name__, x.__module__)
    return ("other", t.__name__, safe_str(repr(x)) if not isinstance(x, BadRepr) else "BadRepr")


def equal_values(x, y):
    try:
        return bool(x == y)
    except Exception:  # noqa: BLE001 (a value that cannot be compared is not equal)
        return False


def runs_python_to_compare(x):
    """Does hashing or comparing x run Python code (K, BadEq, a tuple of one)?"""
    if isinstance(x, (tuple, frozenset)):
        return any(runs_python_to_compare(y) for y in x)
    return type(x) in (K, BadEq)


def unordered(result):
    """A result with every order taken out (a set's iteration order, the
    operands an error message names): lists and tuples sorted, strings as
    the sorted multiset of their characters."""
    if isinstance(result, (list, tuple)):
        return sorted((unordered(x) for x in result), key=repr)
    if isinstance(result, str):
        return "".join(sorted(result))
    return result


def outcome(fn, side):
    try:
        res = fn(side)
    except RecursionError:  # where the limit is met (its message) is no behaviour
        return ("raised", "RecursionError")
    except Exception as exc:  # the exception itself is the result
        return ("raised", type(exc).__name__, safe_str(exc))
    try:
        return ("ok", norm(res, side))
    except Exception as exc:  # normalising failed: still comparable
        return ("norm-raised", type(exc).__name__, safe_str(exc))


# ---- the watched side's runners --------------------------------------------


class PipeWorker:
    """A thread cachewatch cannot order with the main one: made before
    checking starts, fed through os pipes (no hand-off)."""

    def __init__(self):
        self.to_r, self.to_w = os.pipe()
        self.from_r, self.from_w = os.pipe()
        self.job = None
        self.result = None
        self.thread = threading.Thread(target=self._loop, name="diff-unordered", daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            if os.read(self.to_r, 1) != b"j":
                return
            fn = self.job
            self.result = fn()
            os.write(self.from_w, b"d")

    def run(self, fn):
        self.job = fn
        os.write(self.to_w, b"j")
        os.read(self.from_r, 1)
        return self.result


_pipe_worker = None


def pipe_worker():
    """Must be called first before cachewatch.start() to be unordered."""
    global _pipe_worker
    if _pipe_worker is None:
        _pipe_worker = PipeWorker()
    return _pipe_worker


def run_in_fresh_thread(fn):
    box = []
    t = threading.Thread(target=lambda: box.append(fn()), name="diff-fresh")
    t.start()
    t.join()
    return box[0]


def run_busy(fn):
    from cachewatch import _cachewatch

    _cachewatch.busy_call_begin()
    try:
        return fn()
    finally:
        _cachewatch.busy_call_end()


MODES = ["main", "fresh-thread", "unordered-thread", "busy"]


class Side:
    def __init__(self, machine, c, peer, watched):
        self.machine = machine
        self.c = c
        self.peer = peer
        self.watched = watched

    def r(self, v):
        """Resolve the SELF and PEER markers for this side."""
        if v is SELF:
            return self.c
        if v is PEER:
            return self.peer
        if isinstance(v, list) and any(e is SELF or e is PEER for e in v):
            return [self.r(e) for e in v]
        if isinstance(v, tuple) and any(e is SELF or e is PEER for e in v):
            return tuple(self.r(e) for e in v)
        return v

    def is_watched_type(self, x):
        return self.machine.is_watched_type(x)

    def note_type(self, x, what):
        if self.watched:
            self.machine.note_type(x, what)


class Divergence(AssertionError):
    pass


# ---- the base machine ----------------------------------------------------


class DiffMachine(RuleBasedStateMachine):
    KIND = None          # dict, list or set
    NAME = "?"
    WATCHING = True      # False: the self-test's stand-in is not watched by cachewatch
    BASE = None          # the builtin whose semantics KIND has (KIND or a subclass of it)
    MAKE = None          # staticmethod(contents -> container) for both sides; default: KIND
    make_watched = None  # staticmethod(contents -> container); default: MAKE
    _serial = 0

    def __init__(self):
        super().__init__()
        DiffMachine._serial += 1
        self.target = f"diff.{self.NAME}{DiffMachine._serial}"
        self.mode = "main"
        self.watching = False
        self.steps = 0
        self.watched_steps = 0
        self.c_w = self.c_p = None
        self.failed = False  # a step failed: teardown must not hide its error

    # -- set-up
    def _build(self, contents, peer_contents):
        plain = self.MAKE or self.KIND
        make = self.make_watched or plain
        self.c_p = plain(contents)
        self.c_w = make(contents)
        self.peer_p = plain(peer_contents)
        self.peer_w = plain(peer_contents)
        self.ws = Side(self, self.c_w, self.peer_w, True)
        self.ps = Side(self, self.c_p, self.peer_p, False)
        if self.WATCHING:
            import cachewatch

            cachewatch.watch(self.c_w, name=self.target)
            cachewatch.watch(self.peer_w, name=self.target + ".peer")
            self.watching = True
        COUNTS[f"{self.NAME}.sequences"] += 1

    def is_watched_type(self, x):
        return type(x) is not self.KIND and type(x).__name__ == self.KIND.__name__ \
            and type(x).__module__ == self.KIND.__module__

    def note_type(self, x, what):
        plain = type(getattr({}, type(x).__name__[5:])()) if what == "view" else None
        if type(x) is not plain:
            LIMITATIONS[f"type of a watched dict's {type(x).__name__} view is not "
                        f"the builtin {type(x).__name__}"] += 1

    # -- running an operation on both
    def _run_watched(self, fn):
        call = lambda: outcome(fn, self.ws)  # noqa: E731
        if not self.WATCHING or self.mode == "main":
            return call()
        if self.mode == "fresh-thread":
            return run_in_fresh_thread(call)
        if self.mode == "unordered-thread":
            return pipe_worker().run(call)
        return run_busy(call)

    def both(self, label, fn):
        self.steps += 1
        COUNTS[f"{self.NAME}.steps"] += 1
        COUNTS[f"{self.NAME}.rule.{sys._getframe(1).f_code.co_name}"] += 1
        if self.watching:
            self.watched_steps += 1
            COUNTS[f"{self.NAME}.watched_steps.{self.mode}"] += 1
        plain = outcome(fn, self.ps)
        watched = self._run_watched(fn)
        if plain != watched and not (self.order_unstable and
                                     unordered(plain) == unordered(watched)):
            self.failed = True
            raise Divergence(f"{label}: plain gave {sr(plain)}, watched gave {sr(watched)}")
        self.check_contents(label)
        return plain

    def skip(self, why):
        COUNTS[f"{self.NAME}.skipped.{why}"] += 1

    # -- invariants
    def contents(self, c, side):
        return [norm(e, side) for e in self.BASE.__iter__(c)] if self.BASE is not dict else \
            [(norm(k, side), norm(v, side)) for k, v in dict.items(c)]

    # A set another thread added to and discarded from meanwhile may have
    # been resized a different number of times on each side: its order is
    # no longer comparable, only its elements.
    order_unstable = False

    def same_objects(self, c_w, c_p):
        """Same objects in the same order (identity, SELF/PEER matched)."""
        if self.BASE is dict:
            a, b = list(dict.items(c_w)), list(dict.items(c_p))
            flat_a = [x for kv in a for x in kv]
            flat_b = [x for kv in b for x in kv]
        else:
            flat_a, flat_b = list(self.BASE.__iter__(c_w)), list(self.BASE.__iter__(c_p))
        if len(flat_a) != len(flat_b):
            return False
        if self.order_unstable:
            def key(x):
                if x is self.c_w or x is self.c_p:
                    return ("self",)
                if x is self.peer_w or x is self.peer_p:
                    return ("peer",)
                if type(x) in (int, float, str, tuple):
                    return ("value", type(x).__name__, repr(x))
                return ("object", id(x))
            flat_a, flat_b = sorted(flat_a, key=key), sorted(flat_b, key=key)
        for x, y in zip(flat_a, flat_b):
            if x is self.c_w and y is self.c_p or x is self.peer_w and y is self.peer_p:
                continue
            if x is y:
                continue
            if type(x) is float and type(y) is float and math.isnan(x) and math.isnan(y):
                continue
            if type(x) is type(y) and type(x) in (int, float, str, tuple) and equal_values(x, y):
                continue  # computed on each side (Counter's and defaultdict's arithmetic)
            return False
        return True

    def check_contents(self, label):
        for c_w, c_p, what in ((self.c_w, self.c_p, "container"),
                               (self.peer_w, self.peer_p, "peer")):
            if not self.same_objects(c_w, c_p):
                self.failed = True
                raise Divergence(f"after {label}: {what} contents differ: plain "
                                 f"{sr(self.contents(c_p, self.ps))}, watched "
                                 f"{sr(self.contents(c_w, self.ws))}")
            if self.BASE.__len__(c_w) != self.BASE.__len__(c_p):
                raise Divergence(f"after {label}: {what} lengths differ")
        if self.WATCHING:
            from cachewatch import _cachewatch

            if bool(_cachewatch.is_watched(self.c_w)) != self.watching:
                raise Divergence(f"after {label}: is_watched is {not self.watching}, "
                                 f"expected {self.watching}")
            if _cachewatch.has_failed():
                raise Divergence(f"after {label}: cachewatch had an internal failure")

    # -- rules common to all kinds
    @rule(mode=st.sampled_from(MODES))
    def set_mode(self, mode):
        self.mode = mode

    # One rule both ways: with two (unwatch, then rewatch under a
    # precondition) a seed could unwatch 73 times and never draw a rewatch.
    @precondition(lambda self: self.WATCHING)
    @rule()
    def toggle_watching(self):
        import cachewatch

        if self.watching:
            cachewatch.unwatch(self.c_w)
            self.watching = False
            if type(self.c_w) is not self.KIND:
                raise Divergence("unwatch left a watched type")
            COUNTS[f"{self.NAME}.unwatched"] += 1
        else:
            cachewatch.watch(self.c_w, name=self.target)
            self.watching = True
            COUNTS[f"{self.NAME}.rewatched"] += 1

    @rule()
    def type_identity(self):
        """type(x) is KIND: false while watched, a documented limitation."""
        is_plain = type(self.c_w) is self.KIND
        if not self.WATCHING:
            pass
        elif self.watching:
            LIMITATIONS[f"type(x) is {self.KIND.__name__} is False for a watched "
                        f"{self.KIND.__name__}"] += 1
            if is_plain:
                raise Divergence("a watched container has its plain type")
        elif not is_plain:
            raise Divergence("an unwatched container does not have its plain type")
        if self.watching:
            names = [(type(iter(self.c_w)).__name__, type(iter(self.c_p)).__name__)]
            if self.BASE is dict:
                names += [(type(getattr(self.c_w, m)()).__name__ + " is " +
                           str(type(getattr(self.c_w, m)()) is type(getattr(self.c_p, m)())),
                           type(getattr(self.c_p, m)()).__name__ + " is True")
                          for m in ("keys", "values", "items")]
            for w, p in names:
                if w != p:
                    LIMITATIONS[f"iterator/view type of a watched {self.KIND.__name__}: "
                                f"{w} where plain has {p}"] += 1
        self.both("isinstance", lambda s: (isinstance(s.c, self.KIND),
                                           issubclass(type(s.c), self.KIND),
                                           type(s.c).__name__, type(s.c).__module__,
                                           str(type(s.c)), s.c.__class__.__name__))

    @rule()
    def hash_raises(self):
        self.both("hash", lambda s: hash(s.c))

    @rule()
    def weakref_(self):
        def op(s):
            r = weakref.ref(s.c)
            return r() is s.c
        self.both("weakref", op)

    @rule()
    def repr_str(self):
        self.both("repr", lambda s: (repr(s.c), str(s.c), format(s.c)))

    @rule()
    def length(self):
        self.both("len", lambda s: (len(s.c), bool(s.c), s.c.__len__()))

    @rule(proto=st.integers(0, pickle.HIGHEST_PROTOCOL))
    def pickle_roundtrip(self, proto):
        def op(s):
            back = pickle.loads(pickle.dumps(s.c, proto))
            return back, type(back) is self.KIND
        self.both(f"pickle protocol {proto}", op)

    @rule()
    def copy_copy(self):
        self.both("copy.copy", lambda s: (copy.copy(s.c), type(copy.copy(s.c)) is self.KIND))

    @rule()
    def copy_deepcopy(self):
        self.both("copy.deepcopy", lambda s: (copy.deepcopy(s.c),
                                              type(copy.deepcopy(s.c)) is self.KIND))

    # Snapshots taken while another thread changes the container: each is one
    # C-level step on a plain container, so it never raises there; watching
    # must keep it so. The changing thread adds and removes a sentinel of its
    # own, leaving the contents as they were. (pickle is not here: it runs
    # the elements' own reduction code between items, plain too, so whether
    # it raises is up to the scheduler; tests/stress/concurrent_snapshots.py
    # compares it on elements that run none.)
    SNAPSHOT_WAYS = {
        "copy.copy": copy.copy,
        "copy-method": lambda c: c.copy(),
    }

    @rule(way=st.sampled_from(sorted(SNAPSHOT_WAYS)))
    def snapshot_while_changed(self, way):
        take = self.SNAPSHOT_WAYS.get(way)
        if take is None:  # a way this machine's type does not take atomically
            return self.skip("snapshot-way")
        kind = self.BASE
        if kind not in (list, collections.deque) and any(
                runs_python_to_compare(x) for x in list(kind.__iter__(self.c_p))):
            # inserting K(1) beside 1 into the copy runs K.__eq__, Python
            # code between two items: plain, too, may then see the other
            # thread's change ("dict mutated during update")
            return self.skip("snapshot-python-eq")

        def op(s):
            c, sentinel, stop = s.c, object(), threading.Event()

            def change():
                while not stop.is_set():
                    if kind is dict:
                        c[sentinel] = 1
                        del c[sentinel]
                    elif kind is list:
                        c.append(sentinel)
                        del c[-1]
                    elif kind is collections.deque:
                        # appending to a full bounded deque drops an item:
                        # change its order and back instead
                        c.rotate(1)
                        c.rotate(-1)
                    else:
                        c.add(sentinel)
                        c.discard(sentinel)

            raised = set()
            old = sys.getswitchinterval()
            sys.setswitchinterval(1e-6)
            changer = threading.Thread(target=change, name="diff-changer")
            changer.start()
            try:
                for _ in range(20):
                    try:
                        take(c)
                    except Exception as exc:  # the outcome compared
                        raised.add(type(exc).__name__)
            finally:
                stop.set()
                changer.join()
                sys.setswitchinterval(old)
            return sorted(raised)

        if kind is set:
            # the changer's adds and discards leave dummies that a resize
            # drops when it happens to come: a set's order now depends on
            # timing, on either side
            self.order_unstable = True
        self.both(f"{way} while another thread changes it", op)
        if kind is set:
            # one order again (pop() takes the first element), refilled alike
            items = list(set.__iter__(self.c_p))
            for c in (self.c_p, self.c_w):
                c.clear()
                for x in items:
                    c.add(x)
            self.order_unstable = False

    @rule(other=st.sampled_from(["self", "peer", "plain-copy", "none", "int", "tuple"]))
    def compare(self, other):
        def op(s):
            o = {"self": s.c, "peer": s.peer, "plain-copy": (self.MAKE or self.KIND)(s.c), "none": None,
                 "int": 1, "tuple": ()}[other]
            out = [s.c == o, s.c != o, o == s.c, o != s.c]
            # known bug G: plain on the left, watched on the right: Python
            # tries the watched subclass's reflected operator first
            if (self.BASE in (list, collections.deque) or self.KIND is not self.BASE) \
                    and other == "peer" and not self.watching and not INCLUDE_KNOWN:
                out.append("ordering left out")
            elif self.BASE is not dict:
                for f in (lambda a, b: a < b, lambda a, b: a <= b, lambda a, b: a > b,
                          lambda a, b: a >= b):
                    for a, b in ((s.c, o), (o, s.c)):
                        try:
                            out.append(f(a, b))
                        except TypeError as exc:
                            out.append(("TypeError", str(exc)))
            return out
        self.both(f"compare with {other}", op)

    @rule()
    def sizeof(self):
        # compared apart: a difference is memory layout, not behaviour
        w, p = sys.getsizeof(self.c_w), sys.getsizeof(self.c_p)
        if w != p:
            LIMITATIONS[f"sys.getsizeof of a {self.KIND.__name__} differs"] += 1

    @rule(n=st.integers(0, 5),
          mutation=st.sampled_from(["none", "add-new", "add-existing", "delete", "clear"]),
          how=st.sampled_from(["iter", "reversed", "keys", "values", "items"]))
    def loop_mutating(self, n, mutation, how):
        """A Python-level for loop (FOR_ITER) that changes the container at step n."""
        if self.BASE is not dict and how in ("keys", "values", "items"):
            how = "iter"
        if self.BASE is set and how == "reversed":
            how = "iter"

        def op(s):
            c = s.c
            source = {"iter": c, "reversed": reversed(c) if how == "reversed" else c,
                      "keys": getattr(c, "keys", None), "values": getattr(c, "values", None),
                      "items": getattr(c, "items", None)}[how]
            if how in ("keys", "values", "items"):
                source = source()
            seen = []
            for i, x in enumerate(source):
                seen.append(x)
                if i == n:
                    self.mutate(c, mutation)
                if i > 40:
                    break
            return seen
        self.both(f"loop over {how} mutating ({mutation}) at {n}", op)

    def mutate(self, c, mutation):
        raise NotImplementedError

    @rule()
    def snapshots(self):
        def op(s):
            out = [list(s.c), tuple(s.c), [x for x in s.c], list(iter(s.c))]
            try:
                out.append(sorted(s.c, key=repr))
            except Exception as exc:
                out.append(("raised", type(exc).__name__, safe_str(exc)))
            return out
        self.both("snapshots", op)

    @rule()
    def sorted_(self):
        self.both("sorted", lambda s: sorted(s.c))

    @rule()
    def json_roundtrip(self):
        def op(s):
            text = json.dumps(s.c)
            return text, json.loads(text)
        self.both("json", op)

    def teardown(self):
        if self.c_w is None:
            return
        try:
            if not self.failed:
                self.check_contents("the last step")
                if self.WATCHING:
                    self._check_really_watched()
        finally:
            if self.WATCHING:
                import cachewatch

                cachewatch.unwatch(self.c_w)
                cachewatch.unwatch(self.peer_w)

    def _check_really_watched(self):
        """The engine records this container's accesses: after a fresh watch,
        a write makes a new location. And nothing failed inside."""
        import cachewatch
        from cachewatch import _cachewatch

        if _cachewatch.has_failed():
            raise Divergence("cachewatch had an internal failure")
        cachewatch.unwatch(self.c_w)
        cachewatch.watch(self.c_w, name=self.target)
        before = _cachewatch.stats()["locations"]
        self.probe_write(self.c_w)
        after = _cachewatch.stats()["locations"]
        if not after > before:
            raise Divergence(f"a write to the watched {self.NAME} made no location "
                             f"({before} -> {after}): not really watched")
        COUNTS[f"{self.NAME}.probed"] += 1
        if self.watched_steps:
            COUNTS[f"{self.NAME}.sequences_with_watched_steps"] += 1


# ---- dict ------------------------------------------------------------------

dict_contents = st.lists(st.tuples(hashable, values), max_size=6).map(
    lambda kvs: [(k, v) for k, v in kvs if not isinstance(k, BadEq)])
pair_elem = st.one_of(st.tuples(anykey, values), pick([(1,), (1, 2, 3), "ab", 5]))
kw_names = st.sampled_from(["a", "b", "k", "zz"])


def fails_gathering(elem):
    """Does this update() element fail before anything is inserted (an
    unhashable or bad key, an element that is no pair)?"""
    if not isinstance(elem, tuple) and not isinstance(elem, str):
        return True
    if len(elem) != 2:
        return True
    return hash_or_none(elem[0]) is None


class DictMachine(DiffMachine):
    KIND = BASE = dict
    NAME = "dict"

    @initialize(contents=dict_contents, peer=dict_contents)
    def init(self, contents, peer):
        self._build(contents, peer)

    def mutate(self, c, mutation):
        if mutation == "add-new":
            c[NEW[len(c) % 64]] = 1
        elif mutation == "add-existing" and c:
            c[next(iter(dict.keys(c)))] = 2
        elif mutation == "delete" and c:
            del c[next(iter(dict.keys(c)))]
        elif mutation == "clear":
            c.clear()

    @rule(k=anykey, v=st.one_of(values, st.just(SELF)))
    def setitem(self, k, v):
        self.both(f"d[{sr(k)}] = {sr(v)}", lambda s: s.c.__setitem__(k, s.r(v)))

    @rule(k=anykey)
    def getitem(self, k):
        self.both(f"d[{sr(k)}]", lambda s: s.c[k])

    @rule(k=anykey)
    def delitem(self, k):
        self.both(f"del d[{sr(k)}]", lambda s: s.c.__delitem__(k))

    def key_method(self, name, k, extra):
        """d.NAME(k) or, unless extra is "none", d.NAME(k, extra)."""
        args = (k,) if extra == "none" else (k, extra)
        self.both(f"d.{name}({', '.join(sr(a) for a in args)})",
                  lambda s: getattr(s.c, name)(*args))

    @rule(k=anykey, default=st.one_of(st.just("none"), values))
    def get(self, k, default):
        self.key_method("get", k, default)

    @rule(k=anykey, v=st.one_of(st.just("none"), values))
    def setdefault(self, k, v):
        self.key_method("setdefault", k, v)

    @rule(k=anykey, default=st.one_of(st.just("none"), values))
    def pop(self, k, default):
        self.key_method("pop", k, default)

    @rule()
    def popitem(self):
        self.both("d.popitem()", lambda s: s.c.popitem())

    @rule()
    def bad_arity(self):
        def op(s):
            out = []
            for f in (lambda: s.c.get(), lambda: s.c.pop(), lambda: s.c.setdefault(),
                      lambda: s.c.popitem(1), lambda: s.c.update({}, {}),
                      lambda: s.c.setdefault(k=1), lambda: s.c.get(1, 2, 3),
                      lambda: s.c.clear(1), lambda: s.c.keys(1)):
                try:
                    out.append(f())
                except TypeError as exc:
                    # CPython itself names the method's type or the object's
                    # depending on how the call was made (specialised or not)
                    out.append(re.sub(r"^\w+\.(\w+\(\))", r"<type>.\1", str(exc)))
            return out
        self.both("bad arity", op)

    def _update_gate(self, elems):
        """Known bug B: update() gathers first, then applies; an error met
        while applying (BadEq against a key of d) loses to a later gathering
        error."""
        if INCLUDE_KNOWN:
            return False
        hashes = {hash_or_none(e[0]) for e in elems if isinstance(e, tuple) and len(e) == 2}
        return any(fails_gathering(e) for e in elems) and 3 in hashes

    @rule(kind=st.sampled_from(["dict", "pairs", "kwargs", "dict+kwargs", "peer", "self",
                                "items-view", "none", "int", "generator"]),
          pairs=st.lists(pair_elem, max_size=5), kws=st.dictionaries(kw_names, values, max_size=3),
          how=st.sampled_from(["update", "ior"]))
    def update(self, kind, pairs, kws, how):
        if kind in ("pairs", "generator") and self._update_gate(pairs):
            return self.skip("update-error-order")
        if kind in ("dict", "dict+kwargs"):
            pairs = [p for p in pairs if not fails_gathering(p)]
        if how == "ior" and kind in ("kwargs", "dict+kwargs"):
            kind = "dict"

        def arg(s):
            if kind in ("dict", "dict+kwargs"):
                return dict(pairs)
            if kind == "pairs":
                return list(pairs)
            if kind == "generator":
                return (p for p in pairs)
            if kind == "peer":
                return s.peer
            if kind == "self":
                return s.c
            if kind == "items-view":
                return s.peer.items()
            if kind == "int":
                return 5
            return None

        def op(s):
            if how == "ior":
                c = s.c
                c |= arg(s)
                return c
            if kind == "kwargs":
                return s.c.update(**kws)
            if kind == "dict+kwargs":
                return s.c.update(arg(s), **kws)
            return s.c.update(arg(s))
        self.both(f"{how} with {kind} {sr(pairs)} {sr(kws)}", op)

    @precondition(lambda self: INCLUDE_KNOWN)
    @rule(keys=st.lists(st.sampled_from(["a", "b", "c", 1, 2]), max_size=4))
    def update_reading_self(self, keys):
        """Known bug B: the generator sees d as it was before update()."""
        self.both("update from a generator reading d",
                  lambda s: s.c.update((k, len(s.c)) for k in keys))

    @rule(other=st.sampled_from(["peer", "plain", "self", "int", "list"]),
          side=st.sampled_from(["left", "right"]))
    def or_(self, other, side):
        def op(s):
            o = {"peer": s.peer, "plain": {"a": 1, 1: "x"}, "self": s.c, "int": 1,
                 "list": [("a", 1)]}[other]
            r = s.c | o if side == "left" else o | s.c
            return r, type(r) is dict
        self.both(f"d | {other} ({side})", op)

    @rule()
    def clear(self):
        self.both("d.clear()", lambda s: s.c.clear())

    @rule()
    def copy_method(self):
        self.both("d.copy()", lambda s: (s.c.copy(), type(s.c.copy()) is dict))

    @rule(keys=st.lists(anykey, max_size=4), v=values)
    def fromkeys(self, keys, v):
        def op(s):
            r = type(s.c).fromkeys(keys, v)
            return r, type(r) is dict, s.c.fromkeys(keys)
        self.both("fromkeys", op)

    @rule(k=anykey)
    def contains(self, k):
        self.both(f"{sr(k)} in d", lambda s: (k in s.c, k not in s.c, s.c.__contains__(k)))

    @rule(which=st.sampled_from(["keys", "values", "items"]), x=anykey,
          other=st.sampled_from(["set", "peer-view", "self-view", "list", "int", "plain-view"]))
    def views(self, which, x, other):
        # known bug E: ordering a plain values view against a watched one
        # names the reflected operator in the TypeError
        mixed = which == "values" and not self.watching and other == "peer-view" \
            and not INCLUDE_KNOWN
        plain_vo = not self.watching and other == "peer-view"  # v plain, o watched
        plain_ov = self.watching and other == "plain-view"     # o plain, v watched

        def op(s):
            v = getattr(s.c, which)()
            o = {"set": {1, "a", ("a", 1), 3}, "peer-view": getattr(s.peer, which)(),
                 "self-view": getattr(s.c, which)(), "list": [1, "a"], "int": 1,
                 "plain-view": getattr({1: "v", "a": 0}, which)()}[other]
            out = [len(v), list(v), list(reversed(v)), repr(v), dict(v.mapping),
                   v.mapping is not None]
            def bop(f, a, b):
                # known bug F: a real view's set operators take other paths
                # with a watched view (no dict view to CPython) on the right;
                # decided from the watched side's types, the same on both
                if not INCLUDE_KNOWN and (a is v and plain_vo or a is o and plain_ov):
                    return "left out"
                return f(a, b)
            and_, or_, sub, xor = (lambda a, b: a & b), (lambda a, b: a | b), \
                (lambda a, b: a - b), (lambda a, b: a ^ b)
            for f in (lambda: x in v, lambda: (x, x) in v, lambda: bop(and_, v, o),
                      lambda: bop(and_, o, v), lambda: bop(or_, v, o), lambda: bop(or_, o, v),
                      lambda: bop(sub, v, o), lambda: bop(sub, o, v), lambda: bop(xor, v, o),
                      lambda: bop(xor, o, v), lambda: v == o, lambda: o == v,
                      lambda: v != o, lambda: "left out" if mixed else v <= o,
                      lambda: "left out" if mixed else v < o,
                      lambda: "left out" if mixed else v >= o,
                      lambda: v.isdisjoint(o), lambda: v + o,
                      lambda: (hash(v), "hashable")[1],
                      lambda: isinstance(v, collections.abc.Set),
                      lambda: isinstance(v, collections.abc.Sized),
                      lambda: type(v).__name__, lambda: sorted(v, key=repr)):
                try:
                    out.append(f())
                except Exception as exc:
                    out.append(("raised", type(exc).__name__, safe_str(exc)))
            return out
        self.both(f"d.{which}() against {other}, {sr(x)}", op)

    @rule()
    def reversed_(self):
        self.both("reversed(d)", lambda s: (list(reversed(s.c)), list(s.c.__reversed__())))

    @rule()
    def unpacking(self):
        def op(s):
            def f(**kw):
                return kw
            out = [{**s.c}, dict(s.c), dict(**{}, **{k: v for k, v in s.c.items()
                                                    if isinstance(k, str)})]
            try:
                out.append(f(**s.c))
            except TypeError as exc:
                out.append(str(exc))
            try:
                out.append(f(k=0, **s.c))
            except TypeError as exc:
                out.append(str(exc))
            return out
        self.both("unpacking", op)

    def probe_write(self, c):
        c[("cachewatch-probe", self.target)] = 1


# ---- list ------------------------------------------------------------------

list_values = pick(VALUES + [3, "a", K(2), BADEQ])
sort_keys = st.sampled_from([None, "str", "neg", "repr-len", "bad"])
slices = st.builds(slice, st.one_of(st.none(), small_int), st.one_of(st.none(), small_int),
                   st.one_of(st.none(), st.sampled_from([1, 2, -1, -2, 3])))
index_like = st.one_of(small_int, st.sampled_from([2 ** 70, -2 ** 70, True, "x", 1.5, None]))


def sort_key(name):
    return {None: None, "str": str, "neg": lambda x: -x, "repr-len": lambda x: len(repr(x)),
            "bad": lambda x: 1 / 0}[name]


class ListMachine(DiffMachine):
    KIND = BASE = list
    NAME = "list"

    @initialize(contents=st.lists(list_values, max_size=6), peer=st.lists(list_values, max_size=4))
    def init(self, contents, peer):
        self._build(contents, peer)

    def mutate(self, c, mutation):
        if mutation == "add-new":
            c.append("new")
        elif mutation == "add-existing" and c:
            c[0] = "changed"
        elif mutation == "delete" and c:
            del c[0]
        elif mutation == "clear":
            c.clear()

    @rule(v=list_values)
    def append(self, v):
        self.both(f"l.append({sr(v)})", lambda s: s.c.append(v))

    @rule(vs=st.lists(list_values, max_size=4),
          how=st.sampled_from(["list", "tuple", "generator", "self", "peer", "int", "set-of-ints"]))
    def extend(self, vs, how):
        def op(s):
            arg = {"list": list(vs), "tuple": tuple(vs), "generator": (v for v in vs),
                   "self": s.c, "peer": s.peer, "int": 3, "set-of-ints": {1, 2}}[how]
            return s.c.extend(arg)
        self.both(f"l.extend({how} {sr(vs)})", op)

    @rule(i=index_like, v=list_values)
    def insert(self, i, v):
        self.both(f"l.insert({sr(i)}, {sr(v)})", lambda s: s.c.insert(i, v))

    @rule(i=st.one_of(st.just("none"), index_like))
    def pop(self, i):
        if i == "none":
            self.both("l.pop()", lambda s: s.c.pop())
        else:
            self.both(f"l.pop({sr(i)})", lambda s: s.c.pop(i))

    @rule(v=list_values)
    def remove(self, v):
        self.both(f"l.remove({sr(v)})", lambda s: s.c.remove(v))

    @rule(v=list_values, start=st.one_of(st.none(), small_int), stop=st.one_of(st.none(), small_int))
    def index(self, v, start, stop):
        def op(s):
            if start is None:
                return s.c.index(v)
            if stop is None:
                return s.c.index(v, start)
            return s.c.index(v, start, stop)
        self.both(f"l.index({sr(v)}, {start}, {stop})", op)

    @rule(v=list_values)
    def count(self, v):
        self.both(f"l.count({sr(v)})", lambda s: s.c.count(v))

    @rule(key=sort_keys, reverse=st.booleans(), only_sortable=st.booleans())
    def sort(self, key, reverse, only_sortable):
        def op(s):
            if only_sortable:
                s.c[:] = [x for x in s.c if type(x) in (int, float, bool) and x == x]
            return s.c.sort(key=sort_key(key), reverse=reverse)
        self.both(f"l.sort(key={key}, reverse={reverse})", op)

    @rule()
    def sort_reading_self(self):
        self.both("l.sort(key reading l)", lambda s: (s.c.sort(key=lambda x: (len(s.c), repr(x))),
                                                      len(s.c)))

    @rule()
    def reverse(self):
        self.both("l.reverse()", lambda s: s.c.reverse())

    @rule()
    def clear(self):
        self.both("l.clear()", lambda s: s.c.clear())

    @rule()
    def copy_method(self):
        self.both("l.copy()", lambda s: (s.c.copy(), type(s.c.copy()) is list))

    @rule(i=st.one_of(index_like, slices))
    def getitem(self, i):
        self.both(f"l[{sr(i)}]", lambda s: (s.c[i], type(s.c[i]).__name__))

    @rule(i=st.one_of(index_like, slices), v=list_values,
          vs=st.one_of(st.lists(list_values, max_size=4), st.sampled_from([SELF, PEER, 5])))
    def setitem(self, i, v, vs):
        def op(s):
            if isinstance(i, slice):
                s.c[i] = s.r(vs)
            else:
                s.c[i] = v
        self.both(f"l[{sr(i)}] = {sr(v)} / {sr(vs)}", op)

    @rule(i=st.one_of(index_like, slices))
    def delitem(self, i):
        self.both(f"del l[{sr(i)}]", lambda s: s.c.__delitem__(i))

    @rule(other=st.one_of(st.lists(list_values, max_size=3), st.sampled_from([SELF, PEER, 1, ()])))
    def iadd(self, other):
        def op(s):
            c = s.c
            c += s.r(other)
            return c
        self.both(f"l += {sr(other)}", op)

    @rule(n=st.one_of(st.integers(-1, 3), st.sampled_from([2 ** 70, "x"])))
    def imul(self, n):
        if isinstance(n, int) and n > 1 and len(self.c_p) > 20:
            n = 1
        def op(s):
            c = s.c
            c *= n
            return c
        self.both(f"l *= {sr(n)}", op)

    @rule(other=st.one_of(st.lists(list_values, max_size=3), st.sampled_from([SELF, PEER, 1, ()])),
          n=st.integers(-1, 3))
    def binary(self, other, n):
        def op(s):
            out = []
            for f in (lambda: s.c + s.r(other), lambda: s.r(other) + s.c, lambda: s.c * n,
                      lambda: n * s.c, lambda: type(s.c + []) is list, lambda: type(s.c * 1)):
                try:
                    out.append(f())
                except TypeError as exc:
                    out.append(str(exc))
            return out
        self.both(f"l + {sr(other)}, l * {n}", op)

    @rule(v=list_values)
    def contains(self, v):
        self.both(f"{sr(v)} in l", lambda s: (v in s.c, v not in s.c))

    @rule()
    def reversed_(self):
        self.both("reversed(l)", lambda s: list(reversed(s.c)))

    @rule()
    def sorted_(self):
        self.both("sorted", lambda s: sorted(s.c, key=repr))

    def probe_write(self, c):
        c.append("cachewatch-probe")


# ---- set -------------------------------------------------------------------

set_elems = pick([e for e in HASHABLE if not isinstance(e, BadEq)])
set_any = pick(HASHABLE + UNHASHABLE + [{1}, {("a", 1)}])
iterables = st.sampled_from(["set", "frozenset", "list", "peer", "self", "int", "dict",
                             "unhashable-list", "generator"])


def make_iterable(kind, elems, s):
    return {"set": lambda: set(elems), "frozenset": lambda: frozenset(elems),
            "list": lambda: list(elems), "peer": lambda: s.peer, "self": lambda: s.c,
            "int": lambda: 5, "dict": lambda: dict.fromkeys(elems),
            "unhashable-list": lambda: list(elems) + [[]],
            "generator": lambda: (e for e in elems)}[kind]()


class SetMachine(DiffMachine):
    KIND = BASE = set
    NAME = "set"

    @initialize(contents=st.lists(set_elems, max_size=6), peer=st.lists(set_elems, max_size=4))
    def init(self, contents, peer):
        self._build(contents, peer)

    def mutate(self, c, mutation):
        if mutation == "add-new":
            c.add(NEW[len(c) % 64])
        elif mutation == "add-existing" and c:
            c.add(next(iter(set.__iter__(c))))
        elif mutation == "delete" and c:
            c.discard(next(iter(set.__iter__(c))))
        elif mutation == "clear":
            c.clear()

    @rule(x=set_any)
    def add(self, x):
        self.both(f"s.add({sr(x)})", lambda s: s.c.add(x))

    @rule(x=set_any)
    def discard(self, x):
        self.both(f"s.discard({sr(x)})", lambda s: s.c.discard(x))

    @rule(x=set_any)
    def remove(self, x):
        self.both(f"s.remove({sr(x)})", lambda s: s.c.remove(x))

    @rule()
    def pop(self):
        self.both("s.pop()", lambda s: s.c.pop())

    @rule()
    def clear(self):
        self.both("s.clear()", lambda s: s.c.clear())

    @rule(method=st.sampled_from(["update", "intersection_update", "difference_update",
                                  "symmetric_difference_update"]),
          kinds=st.lists(iterables, max_size=3), elems=st.lists(set_elems, max_size=4))
    def bulk(self, method, kinds, elems):
        if method == "symmetric_difference_update":
            kinds = kinds[:1] or ["set"]

        def op(s):
            return getattr(s.c, method)(*[make_iterable(k, elems, s) for k in kinds])
        self.both(f"s.{method}({kinds} {sr(elems)})", op)

    @rule(opname=st.sampled_from(["|=", "&=", "-=", "^="]), kind=iterables,
          elems=st.lists(set_elems, max_size=4))
    def inplace(self, opname, kind, elems):
        def op(s):
            c = s.c
            o = make_iterable(kind, elems, s)
            if opname == "|=":
                c |= o
            elif opname == "&=":
                c &= o
            elif opname == "-=":
                c -= o
            else:
                c ^= o
            return c
        self.both(f"s {opname} {kind} {sr(elems)}", op)

    @rule(kind=iterables, elems=st.lists(set_elems, max_size=4))
    def binary(self, kind, elems):
        def op(s):
            out = []
            o = make_iterable(kind, elems, s)
            if kind == "generator":
                o = list(o)
            for f in (lambda: s.c | o, lambda: o | s.c, lambda: s.c & o, lambda: o & s.c,
                      lambda: s.c - o, lambda: o - s.c, lambda: s.c ^ o, lambda: o ^ s.c,
                      lambda: s.c.union(o), lambda: s.c.intersection(o),
                      lambda: s.c.difference(o), lambda: s.c.symmetric_difference(o),
                      lambda: s.c.issubset(o), lambda: s.c.issuperset(o),
                      lambda: s.c.isdisjoint(o), lambda: type(s.c | set()) is set,
                      lambda: type(s.c.copy()) is set):
                try:
                    out.append(f())
                except TypeError as exc:
                    out.append(("TypeError", str(exc)))
            return out
        self.both(f"s <op> {kind} {sr(elems)}", op)

    @rule(x=set_any)
    def contains(self, x):
        self.both(f"{sr(x)} in s", lambda s: (x in s.c, x not in s.c))

    @rule()
    def frozen(self):
        self.both("frozenset(s)", lambda s: (frozenset(s.c), set(s.c), s.c.copy()))

    def has_badeq(self):
        return any(isinstance(e, BadEq) for e in set.__iter__(self.c_p))

    @rule()
    def copy_copy(self):
        super().copy_copy()

    @rule()
    def copy_order(self):
        """A copy that is a plain set (a watched set's is) iterates in the
        order of the plain original's copy."""
        w_copy = copy.copy(self.c_w)
        if type(w_copy) is set and not self.order_unstable:
            w, p = list(w_copy), list(copy.copy(self.c_p))
            if not self.same_order(w, p):
                raise Divergence(f"copy.copy(s) order: plain gave {sr(p)}, watched gave {sr(w)}")

    def same_order(self, a, b):
        def same(x, y):
            return x is y or type(x) is float and type(y) is float and math.isnan(x) \
                and math.isnan(y)
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))

    def probe_write(self, c):
        c.add(("cachewatch-probe", self.target))


# ---- subclasses (watched through twin types) and deques ---------------------


class MyDict(dict):
    """A user's dict subclass with an attribute (laid out by its class) and a
    method that works on self."""

    def note(self, k):
        self.last = k
        return k in self and self.get(k) is not None


class MyList(list):
    def note(self, x):
        self.last = x
        return x in self


class MySet(set):
    def note(self, x):
        self.last = x
        return x in self


# copy.copy of these walks the items in a Python loop (copy._reconstruct),
# plain or watched: another thread's change makes it raise or not by timing.
ATOMIC_SNAPSHOTS = {"copy-method": lambda c: c.copy()}


class OrderedDictMachine(DictMachine):
    KIND = collections.OrderedDict
    NAME = "odict"
    SNAPSHOT_WAYS = ATOMIC_SNAPSHOTS

    @rule(k=anykey, last=st.booleans())
    def move_to_end(self, k, last):
        self.both(f"od.move_to_end({sr(k)}, last={last})", lambda s: s.c.move_to_end(k, last=last))

    @rule(last=st.booleans())
    def popitem_end(self, last):
        self.both(f"od.popitem(last={last})", lambda s: s.c.popitem(last=last))


class DefaultDictMachine(DictMachine):
    KIND = collections.defaultdict
    NAME = "defaultdict"
    # int: the defaults both sides make are the same object (0)
    MAKE = staticmethod(lambda contents: collections.defaultdict(int, contents))
    if sys.version_info < (3, 10):
        # 3.9: dd.copy() of a watched defaultdict lets another thread in
        # between items (a documented limitation, docs/semantics.md)
        SNAPSHOT_WAYS = {"dict": dict}

    @rule(k=anykey)
    def missing_then_add(self, k):
        def op(s):
            s.c[k] += 1
            return s.c[k], s.c.default_factory
        self.both(f"dd[{sr(k)}] += 1", op)


class CounterMachine(DictMachine):
    KIND = collections.Counter
    NAME = "counter"
    SNAPSHOT_WAYS = {"dict": dict}  # Counter.copy runs Python code between items
    MAKE = staticmethod(lambda contents: collections.Counter(dict(contents)))

    def same_objects(self, c_w, c_p):
        # update() adds counts: each side computes its own (equal) values
        return super().same_objects(c_w, c_p) or \
            equal_values(list(dict.items(c_w)), list(dict.items(c_p)))

    @rule(keys=st.lists(hashable, max_size=4), how=st.sampled_from(["update", "subtract"]))
    def count(self, keys, how):
        self.both(f"c.{how}({sr(keys)})", lambda s: getattr(s.c, how)(keys))

    @rule(k=anykey)
    def increment(self, k):
        def op(s):
            s.c[k] += 1
        self.both(f"c[{sr(k)}] += 1", op)

    @rule()
    def most_common(self):
        self.both("c.most_common()", lambda s: s.c.most_common())


class UserDictMachine(DictMachine):
    KIND = MyDict
    NAME = "userdict"
    SNAPSHOT_WAYS = ATOMIC_SNAPSHOTS

    @rule(k=anykey)
    def own_method(self, k):
        self.both(f"d.note({sr(k)})", lambda s: (s.c.note(k), s.c.last is k, vars(s.c)))


class UserListMachine(ListMachine):
    KIND = MyList
    NAME = "userlist"
    SNAPSHOT_WAYS = {"copy-method": lambda c: c[:]}  # a slice: one C call

    @rule(x=list_values)
    def own_method(self, x):
        self.both(f"l.note({sr(x)})", lambda s: (s.c.note(x), s.c.last is x))


class UserSetMachine(SetMachine):
    KIND = MySet
    NAME = "userset"
    SNAPSHOT_WAYS = ATOMIC_SNAPSHOTS  # copy.copy: list(s) through the reducer, more steps

    @rule(x=hashable)
    def own_method(self, x):
        self.both(f"s.note({sr(x)})", lambda s: (s.c.note(x), s.c.last is x))


class DequeMachine(DiffMachine):
    KIND = BASE = collections.deque
    NAME = "deque"

    @initialize(contents=st.lists(values, max_size=6), peer=st.lists(values, max_size=4))
    def init(self, contents, peer):
        self._build(contents, peer)

    def mutate(self, c, mutation):
        if mutation == "add-new":
            c.append("new")
        elif mutation == "add-existing" and c:
            c[0] = "changed"
        elif mutation == "delete" and c:
            c.popleft()
        elif mutation == "clear":
            c.clear()

    @rule(v=values, how=st.sampled_from(["append", "appendleft"]))
    def add(self, v, how):
        self.both(f"q.{how}({sr(v)})", lambda s: getattr(s.c, how)(v))

    @rule(how=st.sampled_from(["pop", "popleft", "clear", "reverse", "copy", "__len__",
                               "__bool__", "__reversed__"]))
    def no_args(self, how):
        def op(s):
            r = getattr(s.c, how)() if how != "__bool__" else bool(s.c)
            return list(r) if how == "__reversed__" else r
        self.both(f"q.{how}()", op)

    @rule(vs=st.lists(values, max_size=3), how=st.sampled_from(["extend", "extendleft", "__iadd__"]))
    def extend_(self, vs, how):
        self.both(f"q.{how}({sr(vs)})", lambda s: getattr(s.c, how)(vs) is s.c)

    @rule(n=st.integers(-3, 3))
    def rotate(self, n):
        self.both(f"q.rotate({n})", lambda s: s.c.rotate(n))

    @rule(v=values, how=st.sampled_from(["remove", "index", "count", "__contains__"]))
    def by_value(self, v, how):
        self.both(f"q.{how}({sr(v)})", lambda s: getattr(s.c, how)(v))

    @rule(i=st.integers(-4, 4), v=values, how=st.sampled_from(["get", "set", "del", "insert"]))
    def at_index(self, i, v, how):
        def op(s):
            if how == "get":
                return s.c[i]
            if how == "set":
                s.c[i] = v
            elif how == "del":
                del s.c[i]
            else:
                s.c.insert(i, v)
        self.both(f"q[{i}] {how} {sr(v)}", op)

    @rule()
    def maxlen(self):
        self.both("q.maxlen", lambda s: s.c.maxlen)

    def probe_write(self, c):
        c.append("cachewatch-probe")


class BoundedDequeMachine(DequeMachine):
    NAME = "bounded_deque"
    MAKE = staticmethod(lambda contents: collections.deque(contents, maxlen=4))


MACHINES = {"dict": DictMachine, "list": ListMachine, "set": SetMachine,
            "odict": OrderedDictMachine, "defaultdict": DefaultDictMachine,
            "counter": CounterMachine, "userdict": UserDictMachine,
            "userlist": UserListMachine, "userset": UserSetMachine, "deque": DequeMachine,
            "bounded_deque": BoundedDequeMachine}
SUBCLASS_MACHINES = ("odict", "defaultdict", "counter", "userdict", "userlist", "userset",
                     "deque", "bounded_deque")
