"""Iteration racing a structural change: a reporter loops over the live
registry while a worker registers new entries. CPython may raise
"dictionary changed size during iteration" in the reporter."""
# CACHEWATCH-ARGS: --watch __main__:REGISTRY
# EXPECT: iteration __main__.REGISTRY lines=15,25
import threading
import time

REGISTRY = {f"svc-{i}": i for i in range(50)}


def report():
    total = 0
    try:
        for name, value in REGISTRY.items():
            total += value
            time.sleep(0.0005)
    except RuntimeError as exc:
        print("reporter failed:", exc)
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
