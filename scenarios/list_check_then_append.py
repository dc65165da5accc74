"""A job list deduplicated by a membership test: `if job not in PENDING:
PENDING.append(job)` from several threads. Two of them can both miss and
both append: the job runs twice."""
# CACHEWATCH-ARGS: --watch __main__:PENDING
# EXPECT: check-then-act __main__.PENDING lines=13,14
import threading

PENDING = []


def schedule(jobs):
    for job in jobs:
        if job not in PENDING:
            PENDING.append(job)


def main():
    threads = [threading.Thread(target=schedule, args=([f"job-{i}" for i in range(10)],))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("pending:", len(PENDING), "distinct:", len(set(PENDING)))


if __name__ == "__main__":
    main()
