"""The fixed twin of pool_unbounded_futurist: the same burst against a pool
that rejects work past 50 waiting tasks; the caller backs off and retries."""
# CACHEWATCH-ARGS: --pool-backlog 200
# EXPECT: none
import time

import futurist
from futurist import rejection


def create_executor():
    return futurist.ThreadPoolExecutor(check_and_reject=rejection.reject_when_reached(50))


def submit_with_backoff(executor, fn, *args):
    while True:
        try:
            return executor.submit(fn, *args)
        except futurist.RejectedSubmission:
            time.sleep(0.001)


def main():
    executor = create_executor()
    futures = [submit_with_backoff(executor, time.sleep, 0.0005) for _ in range(1500)]
    for f in futures:
        f.result()
    executor.shutdown()
    print("done:", len(futures))


if __name__ == "__main__":
    main()
