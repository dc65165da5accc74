"""Iterating a live list of subscribers while another thread subscribes:
the loop can skip or repeat entries, and for a set it would fail outright."""
# CACHEWATCH-ARGS: --watch __main__:SUBSCRIBERS
# EXPECT: iteration __main__.SUBSCRIBERS lines=13,21
import threading
import time

SUBSCRIBERS = [f"sub-{i}" for i in range(20)]


def notify_all():
    sent = 0
    for subscriber in SUBSCRIBERS:
        sent += 1
        time.sleep(0.0005)
    return sent


def subscribe():
    for i in range(20, 25):
        SUBSCRIBERS.append(f"sub-{i}")
        time.sleep(0.001)


def main():
    threads = [threading.Thread(target=notify_all), threading.Thread(target=subscribe)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("subscribers:", len(SUBSCRIBERS))


if __name__ == "__main__":
    main()
