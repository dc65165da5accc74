"""The fixed twin of dict_check_then_set: one lock held across the check and
the insert, taken with a with-block."""
# CACHEWATCH-ARGS: --watch __main__:CACHE
# EXPECT: none
import threading

CACHE = {}
LOCK = threading.Lock()


def compute(key):
    return key * 2


def lookup(key):
    with LOCK:
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
