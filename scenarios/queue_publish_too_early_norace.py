"""The fixed twin of queue_publish_too_early: the producer updates the
shared state before it hands the job over, so the put orders its update
before the worker's."""
# CACHEWATCH-ARGS: --watch __main__:COUNTS
# EXPECT: none
import queue
import threading

COUNTS = {}
jobs = queue.Queue()


def worker():
    key = jobs.get()
    COUNTS[key] = COUNTS.get(key, 0) + 1


def main():
    t = threading.Thread(target=worker, name="worker")
    t.start()
    COUNTS["k"] = COUNTS.get("k", 0) + 1
    jobs.put("k")
    t.join()
    print(COUNTS)


if __name__ == "__main__":
    main()
