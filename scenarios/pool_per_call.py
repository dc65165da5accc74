"""A thread pool made for every call and never shut down: each call starts
new threads, and they stay until the pool is collected (or forever, if
something keeps it)."""
# CACHEWATCH-ARGS: --executor-leak-count 5
# EXPECT: executor-leak concurrent.futures.ThreadPoolExecutor lines=12
from concurrent.futures import ThreadPoolExecutor

KEPT = []


def fetch_all(urls):
    executor = ThreadPoolExecutor(max_workers=2)
    KEPT.append(executor)  # e.g. kept by a callback, a cache, a log record
    return [f.result() for f in [executor.submit(len, url) for url in urls]]


def main():
    for i in range(8):
        fetch_all([f"http://service/{i}/{j}" for j in range(3)])
    print("pools made:", len(KEPT))
    for executor in KEPT:
        executor.shutdown()


if __name__ == "__main__":
    main()
