"""Check-then-act on one key by two threads, each time ordered by a
hand-off: a queue, an Event, a Condition (the waiter finding the predicate
already true, entering it with `with` or with acquire()), a Barrier, Future.result(), executor submit, and start/join.
Without the hand-off each phase would be a race (see dict_check_then_set)."""
# CACHEWATCH-ARGS: --watch __main__:STATE
# EXPECT: none
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor

STATE = {}


def fill(key):
    if key not in STATE:
        STATE[key] = threading.current_thread().name


def refill(key):
    # The second side: acts on its own check of the same key.
    if STATE.get(key) is not None:
        STATE[key] = STATE[key] + "+"


def via_queue():
    q = queue.Queue()
    t = threading.Thread(target=lambda: (q.get(), refill("queue")))
    t.start()
    fill("queue")
    q.put("go")
    t.join()


def via_event():
    ready = threading.Event()
    t = threading.Thread(target=lambda: (ready.wait(), refill("event")))
    t.start()
    fill("event")
    ready.set()
    t.join()


def via_condition():
    cond = threading.Condition()
    flags = {"ready": False}

    def waiter():
        time.sleep(0.02)  # arrives after the notify: finds the predicate true
        with cond:
            while not flags["ready"]:
                cond.wait()
        refill("condition")

    t = threading.Thread(target=waiter)
    t.start()
    fill("condition")
    with cond:
        flags["ready"] = True
        cond.notify_all()
    t.join()


def via_condition_acquire():
    # The same, the waiter spelling the lock out: a Condition binds its lock's
    # own acquire, so it is the lock that must carry the notifies.
    cond = threading.Condition()
    flags = {"ready": False}

    def waiter():
        time.sleep(0.02)
        cond.acquire()
        try:
            while not flags["ready"]:
                cond.wait()
        finally:
            cond.release()
        refill("condition-acquire")

    t = threading.Thread(target=waiter)
    t.start()
    fill("condition-acquire")
    cond.acquire()
    flags["ready"] = True
    cond.notify_all()
    cond.release()
    t.join()


def via_barrier():
    barrier = threading.Barrier(2)

    def second():
        barrier.wait()
        refill("barrier")

    t = threading.Thread(target=second)
    t.start()
    fill("barrier")
    barrier.wait()
    t.join()


def via_future_and_submit(pool):
    future = pool.submit(fill, "future")
    future.result()
    refill("future")
    fill("submit")
    pool.submit(refill, "submit").result()


def via_join():
    t = threading.Thread(target=fill, args=("join",))
    t.start()
    t.join()
    refill("join")


def main():
    with ThreadPoolExecutor(max_workers=2) as pool:
        # Warm the pool so the submit edge, not a thread start, orders phase 2.
        list(pool.map(time.sleep, [0.01, 0.01]))
        via_queue()
        via_event()
        via_condition()
        via_condition_acquire()
        via_barrier()
        via_future_and_submit(pool)
        via_join()
    print(sorted(STATE.items()))


if __name__ == "__main__":
    main()
