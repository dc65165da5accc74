"""The fixed twin of subclass_defaultdict_counts: each increment holds the
lock; grouping with `GROUPS[key].append(x)` (one insert of the default list,
then one append) needs none."""
# CACHEWATCH-ARGS: --watch __main__:COUNTS --watch __main__:GROUPS
# EXPECT: none
import collections
import threading

COUNTS = collections.defaultdict(int)
GROUPS = collections.defaultdict(list)
LOCK = threading.Lock()


def count(kind, n):
    for i in range(n):
        with LOCK:
            COUNTS[kind] += 1
        GROUPS[i % 7].append(i)


def main():
    threads = [threading.Thread(target=count, args=("request", 200)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("counted:", COUNTS["request"], sum(len(v) for v in GROUPS.values()))


if __name__ == "__main__":
    main()
