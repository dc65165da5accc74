"""The fixed twin of global_lazy_init: the lazy load of a global under one
lock (check and rebinding both inside it)."""
# CACHEWATCH-ARGS: --watch __main__:CELLS
# EXPECT: none
import threading
import time

CELLS = []
CELLS_LOCK = threading.Lock()


def get_all():
    time.sleep(0.002)
    return ["cell0", "cell1", "cell2"]


def load_cells():
    global CELLS
    with CELLS_LOCK:
        if not CELLS:
            CELLS = get_all()
    return CELLS


def main():
    threads = [threading.Thread(target=load_cells, name=f"api-{i}") for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("cells:", CELLS)


if __name__ == "__main__":
    main()
