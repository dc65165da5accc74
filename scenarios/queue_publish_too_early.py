"""A job handed to a worker through a queue before the producer finished
with the shared state: the put orders what came before it, not the update
the producer makes after it, so the two counts race (the report's timeline
draws the put and the get as an arrow, with both updates outside it)."""
# CACHEWATCH-ARGS: --watch __main__:COUNTS
# EXPECT: check-then-act __main__.COUNTS lines=17,25
import queue
import threading
import time

COUNTS = {}
jobs = queue.Queue()


def worker():
    key = jobs.get()
    COUNTS[key] = COUNTS.get(key, 0) + 1


def main():
    t = threading.Thread(target=worker, name="worker")
    t.start()
    jobs.put("k")
    time.sleep(0.05)  # later in real time, but nothing orders it after the worker's update
    COUNTS["k"] = COUNTS.get("k", 0) + 1
    t.join()
    print(COUNTS)


if __name__ == "__main__":
    main()
