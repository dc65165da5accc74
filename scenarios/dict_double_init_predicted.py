"""A race found in a run where it did no harm: the first worker fills the
cache; the second, later in real time but not ordered with it, finds the key
present and does nothing. Had it checked a moment earlier it would have
initialised the entry a second time."""
# CACHEWATCH-ARGS: --watch __main__:CACHE
# EXPECT: check-then-act __main__.CACHE lines=16,17
import threading
import time

CACHE = {}
created = []


def get_client(name, delay):
    time.sleep(delay)
    if name not in CACHE:
        CACHE[name] = f"client-{len(created)}"
        created.append(name)
    return CACHE[name]


def main():
    threads = [threading.Thread(target=get_client, args=("db", delay)) for delay in (0, 0.05)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("created:", created)


if __name__ == "__main__":
    main()
