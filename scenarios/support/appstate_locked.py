"""support/appstate.py done right: one lock around each check and its act."""
import threading
import time

VERSION = "1.0"
REGISTRY = {}
LISTENERS = []
_client = None
_lock = threading.RLock()


class Client:
    pass


def get_client():
    global _client
    with _lock:
        if _client is None:
            time.sleep(0.001)
            _client = Client()
        return _client


def register(name, factory):
    with _lock:
        if name not in REGISTRY:
            REGISTRY[name] = factory()
        return REGISTRY[name]
