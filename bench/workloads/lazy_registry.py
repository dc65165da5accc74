"""A lazily initialised global registry: eight threads look plugins up by
name; the first lookup of a name builds it under a lock (double-checked),
and a module-level default is made once the same way."""
import threading

SCALE = 100000        # lookups per thread
THREADS = 8
NAMES = 400

REGISTRY = {}
_LOCK = threading.Lock()
_DEFAULT = None


class Plugin:
    def __init__(self, name):
        self.name = name
        self.table = [hash((name, i)) & 0xFFFF for i in range(64)]

    def apply(self, x):
        return self.table[x % 64] ^ x


def default():
    global _DEFAULT
    if _DEFAULT is None:
        with _LOCK:
            if _DEFAULT is None:
                _DEFAULT = Plugin("default")
    return _DEFAULT


def lookup(name):
    plugin = REGISTRY.get(name)
    if plugin is None:
        with _LOCK:
            plugin = REGISTRY.get(name)
            if plugin is None:
                plugin = REGISTRY[name] = Plugin(name)
    return plugin


def worker(seed, n, out):
    acc = 0
    for i in range(n):
        plugin = lookup(f"plugin-{(seed * 131 + i * 17) % NAMES}")
        acc = (acc + plugin.apply(i) + default().apply(i)) & 0xFFFFFFFF
    out[seed] = acc


def run(scale):
    global _DEFAULT
    REGISTRY.clear()
    _DEFAULT = None
    out = {}
    threads = [threading.Thread(target=worker, args=(s, scale, out)) for s in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(out.values()) + len(REGISTRY)
