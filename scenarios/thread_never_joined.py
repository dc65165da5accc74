"""A background thread started and never joined: when the program's work is
done it is still running, and nothing will ever wait for it or stop it."""
# CACHEWATCH-ARGS: --thread-leak-grace-ms 50
# EXPECT: thread-leak threading.Thread lines=20
import threading
import time

STATE = {"polls": 0}


def poll_forever():
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        STATE["polls"] += 1
        time.sleep(0.01)


def main():
    poller = threading.Thread(target=poll_forever, name="poller")
    poller.start()
    print("work done")


if __name__ == "__main__":
    main()
