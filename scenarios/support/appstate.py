"""A module with the usual shared state and no locks: a registry dict, a
list of listeners and a lazily made client. Nothing here names itself for
cachewatch; `--watch support.appstate:*` finds it."""
import time

VERSION = "1.0"           # a constant: not watched
REGISTRY = {}             # module-level dict: watched
LISTENERS = []            # module-level list: watched
_client = None            # rebound below with `global`: watched


class Client:
    pass


def get_client():
    global _client
    if _client is None:
        time.sleep(0.001)
        _client = Client()
    return _client


def register(name, factory):
    if name not in REGISTRY:
        REGISTRY[name] = factory()
    return REGISTRY[name]
