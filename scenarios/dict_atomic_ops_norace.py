"""Single atomic operations against each other, where at most one changes a
key: setdefault from many threads, pop(k, None), get, and inserts of
distinct keys. Each is one dict operation and none of them is a race."""
# CACHEWATCH-ARGS: --watch __main__:SESSIONS --watch __main__:BY_THREAD
# EXPECT: none
# RACY-TWIN: dict_write_write.py
import threading

SESSIONS = {}
BY_THREAD = {}


def worker(index):
    for i in range(50):
        bucket = SESSIONS.setdefault(i % 5, [])
        bucket.append(index)
        SESSIONS.get(i % 7)
        SESSIONS.pop(("gone", i), None)
    BY_THREAD[index] = threading.current_thread().name


def main():
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("buckets:", len(SESSIONS), "threads:", len(BY_THREAD))


if __name__ == "__main__":
    main()
