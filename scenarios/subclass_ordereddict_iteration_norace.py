"""The fixed twin of subclass_ordereddict_iteration: the walk copies the items
under the lock that the reordering holds."""
# CACHEWATCH-ARGS: --watch __main__:ROUTES
# EXPECT: none
import collections
import threading

ROUTES = collections.OrderedDict((f"/r{i}", i) for i in range(50))
LOCK = threading.Lock()


def dump():
    seen = 0
    for _ in range(20):
        with LOCK:
            items = list(ROUTES.items())
        for path, handler in items:
            seen += handler >= 0
    return seen


def register():
    for i in range(50):
        with LOCK:
            ROUTES.move_to_end(f"/r{i}")


def main():
    threads = [threading.Thread(target=dump), threading.Thread(target=register)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("routes:", len(ROUTES))


if __name__ == "__main__":
    main()
