"""The fixed twin of dict_write_write: the second writer starts only after the
first was joined, so the writes are ordered (start/join)."""
# CACHEWATCH-ARGS: --watch __main__:SETTINGS
# EXPECT: none
import threading

SETTINGS = {}


def publish(source):
    SETTINGS["active_config"] = source


def main():
    for name in ("file", "env"):
        t = threading.Thread(target=publish, args=(name,))
        t.start()
        t.join()
    print("active:", SETTINGS["active_config"])


if __name__ == "__main__":
    main()
