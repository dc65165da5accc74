"""A class-level cache filled by a classmethod: `if name not in cls._cache:
cls._cache[name] = resolve(name)` from several threads. Two can both miss
and both resolve (and the second overwrites the first). The cache is the
dict the class attribute holds, watched by its attribute path."""
# CACHEWATCH-ARGS: --watch __main__:Resolver._cache
# EXPECT: check-then-act __main__.Resolver._cache lines=16,17
import threading


class Resolver:
    _cache = {}
    calls = []

    @classmethod
    def lookup(cls, name):
        if name not in cls._cache:
            cls._cache[name] = cls.resolve(name)
        return cls._cache[name]

    @classmethod
    def resolve(cls, name):
        cls.calls.append(name)
        return f"10.0.0.{len(name)}"


def main():
    threads = [threading.Thread(target=lambda: [Resolver.lookup(f"host{i}") for i in range(10)])
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("resolved:", len(Resolver.calls), "for", len(Resolver._cache), "names")


if __name__ == "__main__":
    main()
