"""`if WORK: WORK.pop()`: the check and the pop are two operations; another
worker can take the last item in between and this pop fails."""
# CACHEWATCH-ARGS: --watch __main__:WORK
# EXPECT: check-then-act __main__.WORK lines=13,14
import threading

WORK = list(range(100))
DONE = []


def worker():
    while True:
        if WORK:
            item = WORK.pop()
        else:
            return
        DONE.append(item)


def main():
    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("done:", len(DONE))


if __name__ == "__main__":
    main()
