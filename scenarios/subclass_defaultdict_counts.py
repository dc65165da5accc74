"""A defaultdict(int) of counters, `COUNTS[kind] += 1` from three threads: the
read (which inserts the 0 on a miss) and the write are two operations, so
increments are lost."""
# CACHEWATCH-ARGS: --watch __main__:COUNTS
# EXPECT: check-then-act __main__.COUNTS lines=14
import collections
import threading

COUNTS = collections.defaultdict(int)


def count(kind, n):
    for _ in range(n):
        COUNTS[kind] += 1


def main():
    threads = [threading.Thread(target=count, args=("request", 200)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("counted:", COUNTS["request"])


if __name__ == "__main__":
    main()
