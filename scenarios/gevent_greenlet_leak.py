"""A cache refresher spawned as a gevent greenlet and never stopped: when the
program's work is done it is still looping, and it is dropped at exit in
the middle of whatever it was doing."""
# CACHEWATCH-ARGS: --watch __main__:CACHE
# EXPECT: thread-leak greenthread lines=19
import gevent

CACHE = {}


def refresh():
    while True:
        CACHE["stamp"] = CACHE.get("stamp", 0) + 1
        gevent.sleep(0.005)


def main():
    CACHE["stamp"] = 0
    gevent.spawn(refresh)
    gevent.sleep(0.02)
    print("served with the cache at", CACHE["stamp"])


if __name__ == "__main__":
    main()
