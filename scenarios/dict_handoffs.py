"""The racy twin of dict_handoffs_norace: the same two sides, started
together with nothing ordering them but the passage of time."""
# CACHEWATCH-ARGS: --watch __main__:STATE
# EXPECT: check-then-act __main__.STATE lines=12,13,19
import threading
import time

STATE = {}


def fill(key):
    if key not in STATE:
        STATE[key] = threading.current_thread().name


def refill(key):
    time.sleep(0.02)  # later in real time, but not ordered
    if STATE.get(key) is not None:
        STATE[key] = STATE[key] + "+"


def main():
    threads = [threading.Thread(target=fill, args=("k",)),
               threading.Thread(target=refill, args=("k",))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(STATE)


if __name__ == "__main__":
    main()
