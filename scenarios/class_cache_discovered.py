"""module:* finds class-level caches too: a registry kept in a class
attribute, filled by a classmethod with a check and an insert, from several
threads, with no target naming it."""
# CACHEWATCH-ARGS: --watch __main__:*
# EXPECT: check-then-act __main__.Plugins._loaded lines=15,16
import threading


class Plugins:
    _loaded = {}
    names = ["csv", "json", "xml"]

    @classmethod
    def load(cls, name):
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
