"""The fixed twin of deque_pop_if_nonempty: workers take jobs with a bare
popleft() and stop on IndexError (one operation each); producers append
from other threads meanwhile, and a single consumer may check first."""
# CACHEWATCH-ARGS: --watch __main__:JOBS --watch __main__:RESULTS
# EXPECT: none
import collections
import threading
import time

JOBS = collections.deque(range(300))
RESULTS = collections.deque(maxlen=50)


def worker():
    while True:
        try:
            job = JOBS.popleft()
        except IndexError:
            return
        RESULTS.append(job)
        time.sleep(0)  # handling the job lets the other workers run


def producer():
    for i in range(100):
        RESULTS.appendleft(-i)


def single_consumer(seen):
    for _ in range(200):
        if RESULTS:
            seen.append(RESULTS.pop())
        time.sleep(0)


def main():
    seen = []
    threads = [threading.Thread(target=worker) for _ in range(3)]
    threads.append(threading.Thread(target=producer))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    consumer = threading.Thread(target=single_consumer, args=(seen,))
    feeder = threading.Thread(target=producer)
    consumer.start()
    feeder.start()
    consumer.join()
    feeder.join()
    print("seen:", len(seen))


if __name__ == "__main__":
    main()
