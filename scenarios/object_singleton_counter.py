"""A module-level singleton's counter, `self.hits += 1` from three threads:
the attribute is read, then written, in one call without a lock, so hits
are lost."""
# CACHEWATCH-ARGS: --watch __main__:STATS
# EXPECT: check-then-act __main__.STATS.hits lines=14
import threading


class Stats:
    def __init__(self):
        self.hits = 0

    def hit(self):
        self.hits += 1


STATS = Stats()


def serve(n):
    for _ in range(n):
        STATS.hit()


def main():
    threads = [threading.Thread(target=serve, args=(300,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("hits:", STATS.hits)


if __name__ == "__main__":
    main()
