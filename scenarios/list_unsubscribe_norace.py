"""The subscribe/unsubscribe idiom: each listener thread appends its own
callback and later removes it with `if cb in SUBSCRIBERS:
SUBSCRIBERS.remove(cb)`. The membership test and the removal are about that
one element: another thread appending or removing a different callback
cannot change whether it is there, so nothing can go wrong between them.
(cachewatch once reported this as a check-then-act on the whole list.)"""
# CACHEWATCH-ARGS: --watch __main__:SUBSCRIBERS
# EXPECT: none
import threading

SUBSCRIBERS = []
START = threading.Barrier(4)


def listener(n):
    def cb(event, n=n):
        return (n, event)

    START.wait()
    SUBSCRIBERS.append(cb)
    for _ in range(200):
        if cb in SUBSCRIBERS:
            SUBSCRIBERS.remove(cb)
        SUBSCRIBERS.append(cb)
    if cb in SUBSCRIBERS:
        SUBSCRIBERS.remove(cb)


def main():
    threads = [threading.Thread(target=listener, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("left subscribed:", len(SUBSCRIBERS))


if __name__ == "__main__":
    main()
