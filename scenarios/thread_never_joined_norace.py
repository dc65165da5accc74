"""The fixed twin of thread_never_joined: the owner stops and joins its
thread before it is done."""
# CACHEWATCH-ARGS: --thread-leak-grace-ms 50
# EXPECT: none
import threading
import time

STOP = threading.Event()


def poll_until_stopped():
    while not STOP.is_set():
        time.sleep(0.01)


def main():
    poller = threading.Thread(target=poll_until_stopped, name="poller")
    poller.start()
    print("work done")
    STOP.set()
    poller.join()


if __name__ == "__main__":
    main()
