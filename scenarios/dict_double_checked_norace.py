"""Double-checked locking: an unlocked fast-path check, then the check again
and the insert under one lock. The unlocked read is a single atomic
operation; the check that the insert acts on is the locked one."""
# CACHEWATCH-ARGS: --watch __main__:CONNECTIONS
# EXPECT: none
# RACY-TWIN: dict_check_then_set.py
import threading

CONNECTIONS = {}
LOCK = threading.Lock()


def connect(url):
    return object()


def get_connection(url):
    conn = CONNECTIONS.get(url)
    if conn is None:
        with LOCK:
            conn = CONNECTIONS.get(url)
            if conn is None:
                conn = connect(url)
                CONNECTIONS[url] = conn
    return conn


def worker():
    for i in range(30):
        get_connection(f"db-{i % 6}")


def main():
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("connections:", len(CONNECTIONS))


if __name__ == "__main__":
    main()
