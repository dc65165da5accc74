"""Check-then-act on a module-level cache: each worker tests for a key and
inserts it when missing, with no lock. Two workers can both miss and both
compute (double initialisation); the last write wins."""
# CACHEWATCH-ARGS: --watch __main__:CACHE
# EXPECT: check-then-act __main__.CACHE lines=16,17
import threading

CACHE = {}


def compute(key):
    return key * 2


def lookup(key):
    if key not in CACHE:
        CACHE[key] = compute(key)
    return CACHE[key]


def worker():
    for key in range(20):
        lookup(key)


def main():
    threads = [threading.Thread(target=worker, name=f"worker-{i}") for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("entries:", len(CACHE))


if __name__ == "__main__":
    main()
