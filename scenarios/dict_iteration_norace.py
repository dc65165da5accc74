"""The fixed twin of dict_iteration: the reporter takes atomic snapshots
(list(d.items()), d.copy(), dict(d), sorted(d), json.dumps(d)) while the
worker inserts; a snapshot is a single operation and never races."""
# CACHEWATCH-ARGS: --watch __main__:REGISTRY
# EXPECT: none
import json
import threading
import time

REGISTRY = {f"svc-{i}": i for i in range(50)}


def report():
    total = 0
    for _ in range(10):
        for name, value in list(REGISTRY.items()):
            total += value
        total += sum(REGISTRY.copy().values())
        total += len(dict(REGISTRY)) + len(sorted(REGISTRY)) + len(json.dumps(REGISTRY))
        time.sleep(0.001)
    return total


def register():
    for i in range(50, 60):
        REGISTRY[f"svc-{i}"] = i
        time.sleep(0.001)


def main():
    threads = [threading.Thread(target=report), threading.Thread(target=register)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("services:", len(REGISTRY))


if __name__ == "__main__":
    main()
