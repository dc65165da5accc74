"""The fixed twin of gevent_greenlet_leak: the refresher is killed (which
waits for it) before the program ends."""
# CACHEWATCH-ARGS: --watch __main__:CACHE
# EXPECT: none
import gevent

CACHE = {}


def refresh():
    while True:
        CACHE["stamp"] = CACHE.get("stamp", 0) + 1
        gevent.sleep(0.005)


def main():
    CACHE["stamp"] = 0
    refresher = gevent.spawn(refresh)
    gevent.sleep(0.02)
    refresher.kill()
    print("served with the cache at", CACHE["stamp"])


if __name__ == "__main__":
    main()
