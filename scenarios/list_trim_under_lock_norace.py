"""A bounded log kept under one lock: each pass appends and, when the log is
too long, trims it, all inside `with LOCK:`. The length check of one pass is
not what the next pass's append acts on (it guards the trim after it), so
nothing is reported although the lock is released between passes."""
# CACHEWATCH-ARGS: --watch __main__:RECENT
# EXPECT: none
# RACY-TWIN: list_check_then_append.py
import threading

RECENT = []
LOCK = threading.Lock()
LIMIT = 50


def record(worker):
    for n in range(2000):
        with LOCK:
            RECENT.append((worker, n))
            if len(RECENT) > LIMIT:
                del RECENT[:10]


def main():
    threads = [threading.Thread(target=record, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("kept:", len(RECENT) <= LIMIT)


if __name__ == "__main__":
    main()
