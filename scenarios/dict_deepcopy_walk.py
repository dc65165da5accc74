"""A settings snapshot taken with copy.deepcopy while a reloader thread adds
settings. deepcopy walks the dict in Python (copy's _deepcopy_dict loops
over its items), so the walk races the insertions: on a plain dict it
raises 'dictionary changed size during iteration' now and then. Any
Python-level loop over the live dict is an iteration, whoever wrote it."""
# CACHEWATCH-ARGS: --watch __main__:SETTINGS
# EXPECT: iteration __main__.SETTINGS lines=17,24
import copy
import threading

SETTINGS = {f"opt{i}": [i] for i in range(50)}
SNAPSHOTS = []


def snapshot():
    try:
        SNAPSHOTS.append(copy.deepcopy(SETTINGS))
    except RuntimeError:
        SNAPSHOTS.append(None)


def reload():
    for i in range(50, 80):
        SETTINGS[f"opt{i}"] = [i]


def main():
    threads = [threading.Thread(target=snapshot), threading.Thread(target=reload)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("snapshots:", len(SNAPSHOTS))


if __name__ == "__main__":
    main()
