"""The fixed twin of subclass_registry_method: register() holds the
registry's lock; lookups from other threads need none (each is one dict
operation), and a Counter's update from many threads is one C call each."""
# CACHEWATCH-ARGS: --watch __main__:HANDLERS --watch __main__:WORDS
# EXPECT: none
import collections
import threading
import time


class Registry(dict):
    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()

    def register(self, name, handler):
        with self._lock:
            if name in self:
                raise ValueError(f"{name} is already registered")
            time.sleep(0)
            self[name] = handler


HANDLERS = Registry()
WORDS = collections.Counter()
ERRORS = []


def plugin(n):
    for i in range(50):
        try:
            HANDLERS.register(f"handler-{i}", n)
        except ValueError:
            ERRORS.append(i)
        HANDLERS.get(f"handler-{i}")
        WORDS.update(["alpha", "beta", "alpha"])


def main():
    threads = [threading.Thread(target=plugin, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("registered:", len(HANDLERS), "refused:", len(ERRORS), WORDS["alpha"])


if __name__ == "__main__":
    main()
