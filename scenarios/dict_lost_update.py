"""Lost update: counters incremented with += (a read, then a write of the same
key in the same call) from several threads without a lock."""
# CACHEWATCH-ARGS: --watch __main__:COUNTS
# EXPECT: check-then-act __main__.COUNTS lines=12
import threading

COUNTS = {"requests": 0}


def handle_requests(n):
    for _ in range(n):
        COUNTS["requests"] += 1


def main():
    threads = [threading.Thread(target=handle_requests, args=(200,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("requests:", COUNTS["requests"])


if __name__ == "__main__":
    main()
