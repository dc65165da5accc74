"""Appends and pops from many threads are single atomic operations and
commute: nothing is lost and nothing is reported. The results are read
after the threads are joined."""
# CACHEWATCH-ARGS: --watch __main__:RESULTS --watch __main__:WORK
# EXPECT: none
# RACY-TWIN: list_pop_if_nonempty.py
import threading

RESULTS = []
WORK = list(range(200))


def worker():
    while True:
        try:
            item = WORK.pop()
        except IndexError:
            return
        RESULTS.append(item * 2)


def main():
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = 0
    for value in RESULTS:
        total += value
    print("results:", len(RESULTS), total)


if __name__ == "__main__":
    main()
