"""Two threads unsubscribe the same shared callback with `if cb in
SUBSCRIBERS: SUBSCRIBERS.remove(cb)`: both can find it, and the second
remove raises ValueError. The check and the removal are about one element
that both threads touch."""
# CACHEWATCH-ARGS: --watch __main__:SUBSCRIBERS
# EXPECT: check-then-act __main__.SUBSCRIBERS lines=21,22
import threading

SUBSCRIBERS = []
FAILED = []


def on_event(event):
    return event


def shutdown(rounds):
    for _ in range(rounds):
        SUBSCRIBERS.append(on_event)
        try:
            if on_event in SUBSCRIBERS:
                SUBSCRIBERS.remove(on_event)
        except ValueError:
            FAILED.append(1)


def main():
    threads = [threading.Thread(target=shutdown, args=(200,)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("removals that failed:", len(FAILED))


if __name__ == "__main__":
    main()
