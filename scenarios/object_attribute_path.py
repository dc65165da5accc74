"""module:NAME.attr naming an attribute that holds no container: that one
attribute of the singleton is watched (its loads and stores); booting twice
is a check-then-act on APP.status, and the unwatched hits counter is not
reported."""
# CACHEWATCH-ARGS: --watch __main__:APP.status
# EXPECT: check-then-act __main__.APP.status lines=21,23
import threading
import time


class App:
    def __init__(self):
        self.status = None
        self.hits = 0


APP = App()


def boot():
    if APP.status is None:
        time.sleep(0.001)
        APP.status = "up"
    APP.hits += 1


def main():
    threads = [threading.Thread(target=boot) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("status:", APP.status)


if __name__ == "__main__":
    main()
