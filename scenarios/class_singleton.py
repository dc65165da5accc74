"""A class-level singleton made lazily by a classmethod: `if cls._instance is
None: cls._instance = cls()` from several threads makes more than one, and
each caller may keep a different one."""
# CACHEWATCH-ARGS: --watch __main__:Config
# EXPECT: check-then-act __main__.Config._instance lines=17,19
import threading
import time

MADE = []


class Config:
    _instance = None

    @classmethod
    def get(cls):
        if cls._instance is None:
            time.sleep(0.001)
            cls._instance = cls()
            MADE.append(cls._instance)
        return cls._instance


def main():
    threads = [threading.Thread(target=Config.get) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("made:", len(MADE))


if __name__ == "__main__":
    main()
