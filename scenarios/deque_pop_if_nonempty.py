"""A job deque drained by several workers with `if JOBS: JOBS.popleft()`:
the check and the pop are two operations; another worker can take the last
job in between and this popleft raises IndexError."""
# CACHEWATCH-ARGS: --watch __main__:JOBS
# EXPECT: check-then-act __main__.JOBS lines=15,16
import collections
import threading
import time
JOBS = collections.deque(range(300))
DONE = []


def worker():
    while True:
        if JOBS:
            job = JOBS.popleft()
        else:
            return
        DONE.append(job)
        time.sleep(0)  # handling the job lets the other workers run


def main():
    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("done:", len(DONE))


if __name__ == "__main__":
    main()
