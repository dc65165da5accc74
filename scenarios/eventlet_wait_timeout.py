"""Waiting for a cell's greenthread with an eventlet Timeout: the wait is
cut, the caller moves on, and the greenthread runs on to the end of its slow
query, holding its connection, after its result stopped mattering."""
# CACHEWATCH-ARGS: --watch __main__:RESULTS
# EXPECT: abandoned-task greenthread lines=17,20
import eventlet

RESULTS = {}


def query(cell, seconds):
    eventlet.sleep(seconds)
    RESULTS[cell] = "done"


def main():
    slow = eventlet.spawn(query, "cell2", 0.4)
    try:
        with eventlet.Timeout(0.05):
            slow.wait()
    except eventlet.Timeout:
        print("cell2 timed out")
    eventlet.sleep(0.5)  # the service goes on


if __name__ == "__main__":
    main()
