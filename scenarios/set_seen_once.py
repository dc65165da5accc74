"""Process each event once, remembered in a set: `if key not in SEEN:
SEEN.add(key)` with no lock. Two threads can both see the key as new."""
# CACHEWATCH-ARGS: --watch __main__:SEEN
# EXPECT: check-then-act __main__.SEEN lines=13,14
import threading

SEEN = set()
PROCESSED = []


def handle(events):
    for key in events:
        if key not in SEEN:
            SEEN.add(key)
            PROCESSED.append(key)


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
