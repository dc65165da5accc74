"""The fixed twin of class_cache: the check and the fill under the class's
lock, so each name is resolved once. A singleton's registry filled with
distinct keys from several threads needs no lock: each insert is one dict
operation, and they commute."""
# CACHEWATCH-ARGS: --watch __main__:Resolver._cache --watch __main__:APP.registry
# EXPECT: none
import threading


class Resolver:
    _cache = {}
    _lock = threading.Lock()
    calls = []

    @classmethod
    def lookup(cls, name):
        with cls._lock:
            if name not in cls._cache:
                cls._cache[name] = cls.resolve(name)
            return cls._cache[name]

    @classmethod
    def resolve(cls, name):
        cls.calls.append(name)
        return f"10.0.0.{len(name)}"


class App:
    def __init__(self):
        self.registry = {}


APP = App()


def serve(n):
    for i in range(10):
        Resolver.lookup(f"host{i}")
    APP.registry[f"handler-{n}"] = serve


def main():
    threads = [threading.Thread(target=serve, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("resolved:", len(Resolver.calls), "handlers:", len(APP.registry))


if __name__ == "__main__":
    main()
