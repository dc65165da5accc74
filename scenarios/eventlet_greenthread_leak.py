"""A cache refresher spawned as a greenthread and never stopped: when the
program's work is done it is still looping, and it is dropped at exit in
the middle of whatever it was doing."""
# CACHEWATCH-ARGS: --watch __main__:CACHE
# EXPECT: thread-leak greenthread lines=19
import eventlet

CACHE = {}


def refresh():
    while True:
        CACHE["stamp"] = CACHE.get("stamp", 0) + 1
        eventlet.sleep(0.005)


def main():
    CACHE["stamp"] = 0
    eventlet.spawn(refresh)
    eventlet.sleep(0.02)
    print("served with the cache at", CACHE["stamp"])


if __name__ == "__main__":
    main()
