"""The fixed twin of eventlet_wait_timeout: the greenthread is killed once
its wait timed out."""
# CACHEWATCH-ARGS: --watch __main__:RESULTS
# EXPECT: none
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
        slow.kill()
    eventlet.sleep(0.5)  # the service goes on


if __name__ == "__main__":
    main()
