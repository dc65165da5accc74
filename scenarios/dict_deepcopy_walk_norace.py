"""The fixed twin of dict_deepcopy_walk: the snapshot and the reload hold
one lock, so the deepcopy walk never overlaps an insertion. copy.copy needs
no lock at all: it copies the dict in one C-level step, as dict.copy does."""
# CACHEWATCH-ARGS: --watch __main__:SETTINGS
# EXPECT: none
import copy
import threading

SETTINGS = {f"opt{i}": [i] for i in range(50)}
LOCK = threading.Lock()
SNAPSHOTS = []


def snapshot():
    with LOCK:
        SNAPSHOTS.append(copy.deepcopy(SETTINGS))
    for _ in range(20):
        SNAPSHOTS.append(copy.copy(SETTINGS))


def reload():
    for i in range(50, 80):
        with LOCK:
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
