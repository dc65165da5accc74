"""Where a watched list's accesses land: its indices, its elements and its
contents (ext/cpython/hooks_list.c). Each test runs two unordered threads (nothing
orders them but their start by the main thread) and checks what is found.

A membership test and a removal are about one element: `if cb in L:
L.remove(cb)` conflicts with threads removing an equal cb, not with appends
of others. A slice store, a deletion or insertion before an index, sort and
reverse write the indices they change, whichever ran first."""
import threading

import pytest

import cachewatch


@pytest.fixture
def started():
    cachewatch.start("print_reports=0")
    cachewatch.clear()
    yield
    cachewatch.stop()
    cachewatch.clear()


def watched(items, name="t.L"):
    lst = list(items)
    cachewatch.watch(lst, name=name)
    return lst


def run(*bodies, in_order=False):
    """Run each body in a thread of its own. in_order: each starts after the
    one before has finished, seen through a plain flag, which orders nothing
    for the checker (no hand-off): the threads stay unordered."""
    done, errors = [], []

    def thread(body):
        try:
            body()
        except Exception as exc:  # shown by the assertion below
            errors.append(exc)
        finally:
            done.append(1)

    threads = [threading.Thread(target=thread, args=(body,)) for body in bodies]
    for n, t in enumerate(threads):
        t.start()
        while in_order and len(done) <= n:
            pass
    for t in threads:
        t.join()
    assert errors == []


def found():
    return sorted((f["category"], f["location"], f["key"]) for f in cachewatch.findings())


def test_unsubscribing_own_callbacks_is_silent(started):
    subscribers = watched([])

    def listener(n):
        def body():
            cb = f"cb-{n}"
            for _ in range(50):
                subscribers.append(cb)
                if cb in subscribers:
                    subscribers.remove(cb)
        return body

    run(*[listener(n) for n in range(3)])
    assert found() == []


def test_check_then_remove_of_a_shared_element(started):
    subscribers = watched(["shared"] * 20)

    def unsubscribe():
        for _ in range(10):
            if "shared" in subscribers:
                subscribers.remove("shared")

    run(unsubscribe, unsubscribe)
    assert found() == [("check-then-act", "element", "'shared'")]


def test_check_then_append_of_the_same_element(started):
    pending = watched([])

    def schedule():
        if "job-1" not in pending:
            pending.append("job-1")

    run(schedule, schedule, in_order=True)
    assert found() == [("check-then-act", "element", "'job-1'")]


def test_adding_an_equal_element_does_not_race_check_then_remove(started):
    # An append leaves x there for the remove: the check still holds.
    items = watched(["x"])

    def remove():
        if "x" in items:
            items.remove("x")

    run(remove, lambda: items.append("x"))
    assert found() == []


def test_element_report_shows_the_elements_repr(capfd):
    cachewatch.start()
    cachewatch.clear()
    try:
        items = watched([("tenant", 7)] * 4)

        def remove():
            if ("tenant", 7) in items:
                items.remove(("tenant", 7))

        run(remove, remove)
    finally:
        cachewatch.stop()
        cachewatch.clear()
    err = capfd.readouterr().err
    assert "Element: ('tenant', 7)" in err
    assert "<unprintable key>" not in err


@pytest.mark.parametrize("in_order", [False, True], ids=["any-order", "slice-first"])
def test_item_store_and_slice_store_on_one_index(started, in_order):
    slots = watched([None] * 4)
    run(lambda: slots.__setitem__(slice(0, 2), ["b", "b"]), lambda: slots.__setitem__(0, "a"),
        in_order=in_order)
    assert found() == [("write-write", "index", "0")]


def test_slice_store_elsewhere_is_silent(started):
    slots = watched([None] * 6)
    run(lambda: slots.__setitem__(slice(0, 2), ["b", "b"]), lambda: slots.__setitem__(4, "a"))
    assert found() == []


@pytest.mark.parametrize("in_order", [False, True], ids=["any-order", "deletion-first"])
def test_increment_of_an_index_a_deletion_shifts(started, in_order):
    counts = watched([0] * 6)

    def increment():
        counts[3] += 1

    run(lambda: counts.__delitem__(0), increment, in_order=in_order)
    assert found() == [("check-then-act", "index", "3")]


def test_deletion_after_an_index_leaves_it_alone(started):
    counts = watched([0] * 6)

    def increment():
        counts[1] += 1

    run(lambda: counts.__delitem__(slice(4, 6)), increment)
    assert found() == []


def test_sort_and_an_index_store(started):
    items = watched([3, 1, 2])
    run(lambda: items.sort(), lambda: items.__setitem__(1, 9))
    assert found() == [("write-write", "index", "1")]


def test_pops_from_many_threads_commute(started):
    queue = watched(range(200))

    def worker():
        for _ in range(50):
            try:
                queue.pop(0)
            except IndexError:
                return

    run(worker, worker, worker)
    assert found() == []


def test_insert_before_an_index_store(started):
    items = watched(["a", "b", "c"])
    run(lambda: items.insert(0, "z"), lambda: items.__setitem__(2, "y"), in_order=True)
    assert found() == [("write-write", "index", "2")]


def test_remove_shifts_only_what_follows(started):
    items = watched(["a", "b", "c", "d"])
    run(lambda: items.remove("c"), lambda: items.__setitem__(1, "y"),
        lambda: items.__setitem__(2, "z"), in_order=True)
    # Index 1 held 'b' before and after; index 2 held 'c', now 'd'.
    assert found() == [("write-write", "index", "2")]


def test_a_stack_pays_for_no_index_or_element_locations(started):
    from cachewatch import _cachewatch

    stack = watched([])

    def worker():
        for i in range(50):
            stack.append(i)
            stack.pop()

    run(worker, worker)
    assert found() == []
    # The contents and the structure: no range, index or element location.
    assert _cachewatch.stats()["locations"] == 2


def test_store_to_the_last_index_and_a_pop(started):
    items = watched(["a", "b", "c"])
    run(lambda: items.__setitem__(2, "z"), lambda: items.pop(), in_order=True)
    assert found() == [("write-write", "index", "2")]
