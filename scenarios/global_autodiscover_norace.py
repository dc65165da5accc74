"""The fixed twin of global_autodiscover: the same state behind one lock,
found the same way (`support.*` matches every module of the package)."""
# CACHEWATCH-ARGS: --watch support.*
# EXPECT: none
import threading

from support import appstate_locked as appstate


def worker():
    appstate.get_client()
    for i in range(5):
        appstate.register(f"plugin-{i}", dict)


def main():
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("plugins:", len(appstate.REGISTRY))


if __name__ == "__main__":
    main()
