"""Auto-discovery: no name is given, only the module. cachewatch watches its
module-level containers and the globals its code rebinds, and finds the two
check-then-act races in it (the registry and the lazily made client)."""
# CACHEWATCH-ARGS: --watch support.appstate:*
# EXPECT: check-then-act support.appstate.REGISTRY lines=25,26
# EXPECT: check-then-act support.appstate._client lines=18,20
import threading

from support import appstate


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
