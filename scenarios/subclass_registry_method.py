"""`class Registry(dict)` with its own register(): the membership check and
the store are two operations on self, so two threads registering one name
both pass the check and the second silently replaces the first."""
# CACHEWATCH-ARGS: --watch __main__:HANDLERS
# EXPECT: check-then-act __main__.HANDLERS lines=12,15
import threading
import time


class Registry(dict):
    def register(self, name, handler):
        if name in self:
            raise ValueError(f"{name} is already registered")
        time.sleep(0)
        self[name] = handler


HANDLERS = Registry()
ERRORS = []


def plugin(n):
    for i in range(50):
        try:
            HANDLERS.register(f"handler-{i}", n)
        except ValueError:
            ERRORS.append(i)


def main():
    threads = [threading.Thread(target=plugin, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("registered:", len(HANDLERS), "refused:", len(ERRORS))


if __name__ == "__main__":
    main()
