"""A registry kept in an OrderedDict: one thread walks its items while another
registers and reorders entries; the walk raises "OrderedDict mutated during
iteration" when the change lands inside it."""
# CACHEWATCH-ARGS: --watch __main__:ROUTES
# EXPECT: iteration __main__.ROUTES lines=15,22
import collections
import threading

ROUTES = collections.OrderedDict((f"/r{i}", i) for i in range(50))


def dump():
    seen = 0
    for _ in range(20):
        for path, handler in ROUTES.items():
            seen += handler >= 0
    return seen


def register():
    for i in range(50):
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
