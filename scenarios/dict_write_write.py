"""Conflicting writes: two threads each store their own value under one key,
unordered and with no common lock; which one survives is up to the
scheduler."""
# CACHEWATCH-ARGS: --watch __main__:SETTINGS
# EXPECT: write-write __main__.SETTINGS lines=12
import threading

SETTINGS = {}


def publish(source):
    SETTINGS["active_config"] = source


def main():
    threads = [threading.Thread(target=publish, args=(name,)) for name in ("file", "env")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("active:", SETTINGS["active_config"])


if __name__ == "__main__":
    main()
