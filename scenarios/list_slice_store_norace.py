"""The fixed twin of list_slice_store: the item store and the slice store
hold one lock, so they are ordered. Stores to other slots than the slice
covers are not ordered and need not be: they touch different indices."""
# CACHEWATCH-ARGS: --watch __main__:SLOTS
# EXPECT: none
import threading

SLOTS = [None] * 8
LOCK = threading.Lock()


def claim():
    for n in range(50):
        with LOCK:
            SLOTS[0] = ("claimed", n)
        SLOTS[5] = ("mine", n)


def reset():
    for _ in range(50):
        with LOCK:
            SLOTS[0:2] = [None, None]


def main():
    threads = [threading.Thread(target=claim), threading.Thread(target=reset)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("slot 0:", SLOTS[0])


if __name__ == "__main__":
    main()
