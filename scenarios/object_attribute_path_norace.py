"""The fixed twin of object_attribute_path: booting holds a lock; the hits
counter still races, but it is not the attribute the target names."""
# CACHEWATCH-ARGS: --watch __main__:APP.status
# EXPECT: none
import threading
import time

LOCK = threading.Lock()


class App:
    def __init__(self):
        self.status = None
        self.hits = 0


APP = App()


def boot():
    with LOCK:
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
