"""The fixed twin of class_singleton: the singleton is made under a
class-level lock (double-checked), and a class-level counter is bumped under
it too."""
# CACHEWATCH-ARGS: --watch __main__:Config
# EXPECT: none
import threading
import time

MADE = []


class Config:
    _instance = None
    _lock = threading.Lock()
    gets = 0

    @classmethod
    def get(cls):
        with cls._lock:
            cls.gets += 1
        if cls._instance is None:
            with cls._lock:
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
    print("made:", len(MADE), "gets:", Config.gets)


if __name__ == "__main__":
    main()
