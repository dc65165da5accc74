"""The fixed twin of eventlet_cell_cache: the check and the store run with no
green switch between them (the load happens first, outside), a per-cell
green lock (threading.Lock, made green by monkey_patch) is held across a
loading step that does switch, results are handed over an eventlet queue,
and the parent updates each cell after waitall()."""
# CACHEWATCH-ARGS: --watch __main__:CELLS
# EXPECT: none
import threading

import eventlet
import eventlet.queue

eventlet.monkey_patch()

CELLS = {}
LOCKS = {"cell0": threading.Lock(), "cell1": threading.Lock()}


def get_cell(uuid, results):
    loaded = load_cell(uuid)
    if uuid not in CELLS:
        CELLS[uuid] = loaded
    with LOCKS[uuid]:
        count = CELLS.get(uuid + "-hits", 0)
        eventlet.sleep(0)
        CELLS[uuid + "-hits"] = count + 1
    results.put(uuid)


def load_cell(uuid):
    eventlet.sleep(0.001)
    return {"uuid": uuid}


def main():
    results = eventlet.queue.LightQueue()
    pool = eventlet.GreenPool()
    for i in range(8):
        pool.spawn(get_cell, f"cell{i % 2}", results)
    pool.waitall()
    for _ in range(8):
        uuid = results.get()
        cell = CELLS[uuid]
        eventlet.sleep(0)
        CELLS[uuid] = dict(cell, seen=True)
    print(sorted(CELLS))


if __name__ == "__main__":
    main()
