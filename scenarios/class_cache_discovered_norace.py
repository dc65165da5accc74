"""The fixed twin of class_cache_discovered: the check and the insert under
the class's lock. Class attributes that hold containers no thread changes
(a list of names, an enum's members) are watched and silent."""
# CACHEWATCH-ARGS: --watch __main__:*
# EXPECT: none
import enum
import threading


class Format(enum.Enum):
    CSV = "csv"
    JSON = "json"


class Plugins:
    _loaded = {}
    _lock = threading.Lock()
    names = [f.value for f in Format]

    @classmethod
    def load(cls, name):
        with cls._lock:
            if name not in cls._loaded:
                cls._loaded[name] = object()
            return cls._loaded[name]


def main():
    threads = [threading.Thread(target=lambda: [Plugins.load(n) for n in Plugins.names])
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("loaded:", sorted(Plugins._loaded))


if __name__ == "__main__":
    main()
