"""The fixed twin of eventlet_greenthread_leak: the refresher is killed and
waited for before the program ends."""
# CACHEWATCH-ARGS: --watch __main__:CACHE
# EXPECT: none
import eventlet
import greenlet

CACHE = {}


def refresh():
    while True:
        CACHE["stamp"] = CACHE.get("stamp", 0) + 1
        eventlet.sleep(0.005)


def main():
    CACHE["stamp"] = 0
    refresher = eventlet.spawn(refresh)
    eventlet.sleep(0.02)
    refresher.kill()
    try:
        refresher.wait()
    except greenlet.GreenletExit:
        pass
    print("served with the cache at", CACHE["stamp"])


if __name__ == "__main__":
    main()
