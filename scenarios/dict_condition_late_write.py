"""A Condition's notify orders what the notifier did before it for whoever
takes the lock afterwards, however spelt; not what the notifier does after
it. The waiter enters with cond.acquire(), finds the predicate true and
updates the count while the notifier, past its notify and outside the lock,
updates it too: a lost update. (The ordered half is via_condition_acquire
in dict_handoffs_norace.)"""
# CACHEWATCH-ARGS: --watch __main__:STATE
# EXPECT: check-then-act __main__.STATE lines=31,33,22
import threading
import time

STATE = {"count": 0}
cond = threading.Condition()
flags = {"ready": False}


def notifier():
    with cond:
        flags["ready"] = True
        cond.notify_all()
    time.sleep(0.05)
    STATE["count"] = STATE["count"] + 10  # after the notify, outside the lock


def waiter():
    time.sleep(0.02)
    cond.acquire()
    try:
        while not flags["ready"]:
            cond.wait()
        seen = STATE["count"]
        time.sleep(0.1)
        STATE["count"] = seen + 1
    finally:
        cond.release()


def main():
    threads = [threading.Thread(target=notifier), threading.Thread(target=waiter)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(STATE)


if __name__ == "__main__":
    main()
