"""The fixed twin of dict_lost_update: the increment is done under a lock
taken with a manual acquire() and released in a finally block."""
# CACHEWATCH-ARGS: --watch __main__:COUNTS
# EXPECT: none
import threading

COUNTS = {"requests": 0}
LOCK = threading.Lock()


def handle_requests(n):
    for _ in range(n):
        LOCK.acquire()
        try:
            COUNTS["requests"] = COUNTS.get("requests", 0) + 1
        finally:
            LOCK.release()


def main():
    threads = [threading.Thread(target=handle_requests, args=(200,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("requests:", COUNTS["requests"])


if __name__ == "__main__":
    main()
