"""A slot table written two ways: one thread stores `SLOTS[0] = ...`, a
second replaces the first slots with a slice store `SLOTS[0:2] = [...]`.
Unordered and unlocked, which value slot 0 ends with depends on the
scheduler: a write-write on index 0. The slice store writes the indices it
replaces, as the item store does."""
# CACHEWATCH-ARGS: --watch __main__:SLOTS
# EXPECT: write-write __main__.SLOTS lines=15,20
import threading

SLOTS = [None] * 8


def claim():
    for n in range(50):
        SLOTS[0] = ("claimed", n)


def reset():
    for _ in range(50):
        SLOTS[0:2] = [None, None]


def main():
    threads = [threading.Thread(target=claim), threading.Thread(target=reset)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("slot 0:", SLOTS[0])


if __name__ == "__main__":
    main()
