"""The fixed twin of object_every_instance: the shared meter counts under its
lock; a meter made by main and handed to a worker through a queue is used by
one thread at a time, in order."""
# CACHEWATCH-ARGS: --watch __main__:Meter()
# EXPECT: none
import queue
import threading


class Meter:
    def __init__(self, name):
        self.name = name
        self.count = 0
        self.lock = threading.Lock()

    def mark(self):
        with self.lock:
            self.count += 1


def worker(shared, inbox):
    mine = Meter("local")
    handed = inbox.get()
    for _ in range(300):
        shared.mark()
        mine.mark()
        handed.count += 1


def main():
    shared = Meter("requests")
    inboxes = [queue.Queue() for _ in range(3)]
    threads = [threading.Thread(target=worker, args=(shared, q)) for q in inboxes]
    for t in threads:
        t.start()
    for q in inboxes:
        m = Meter("handed")
        m.count = 10
        q.put(m)
    for t in threads:
        t.join()
    print("requests:", shared.count)


if __name__ == "__main__":
    main()
