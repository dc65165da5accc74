"""The fixed twin of set_seen_once: the membership test and the add under
one lock; and plain adds and discards of the threads' own elements, which
are single operations."""
# CACHEWATCH-ARGS: --watch __main__:SEEN --watch __main__:ACTIVE
# EXPECT: none
import threading

SEEN = set()
ACTIVE = set()
LOCK = threading.Lock()
PROCESSED = []


def handle(events):
    me = threading.current_thread().name
    ACTIVE.add(me)
    for key in events:
        with LOCK:
            if key in SEEN:
                continue
            SEEN.add(key)
        PROCESSED.append(key)
    ACTIVE.discard(me)


def main():
    events = [f"evt-{i % 15}" for i in range(30)]
    threads = [threading.Thread(target=handle, args=(events,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("processed:", len(PROCESSED))


if __name__ == "__main__":
    main()
