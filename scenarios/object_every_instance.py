"""Every instance of a class: each Meter counts its own events with
`self.count += 1`; one meter is shared by the workers and loses counts, the
ones each worker makes for itself are never shared and say nothing."""
# CACHEWATCH-ARGS: --watch __main__:Meter()
# EXPECT: check-then-act __main__.Meter().count lines=15
import threading


class Meter:
    def __init__(self, name):
        self.name = name
        self.count = 0

    def mark(self):
        self.count += 1


def worker(shared):
    mine = Meter("local")
    for _ in range(300):
        shared.mark()
        mine.mark()


def main():
    shared = Meter("requests")
    threads = [threading.Thread(target=worker, args=(shared,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("requests:", shared.count)


if __name__ == "__main__":
    main()
