"""Nova's create_executor() returns futurist.ThreadPoolExecutor() with default
arguments: its threads are bounded (5 x CPUs) but its work queue is not, since
check_and_reject defaults to rejecting nothing. Under a burst of requests the
backlog grows without limit."""
# CACHEWATCH-ARGS: --pool-backlog 200
# EXPECT: unbounded-pool futurist.ThreadPoolExecutor lines=13,18
import time

import futurist


def create_executor():
    return futurist.ThreadPoolExecutor()


def main():
    executor = create_executor()
    futures = [executor.submit(time.sleep, 0.0005) for _ in range(1500)]
    for f in futures:
        f.result()
    executor.shutdown()
    print("done:", len(futures))


if __name__ == "__main__":
    main()
