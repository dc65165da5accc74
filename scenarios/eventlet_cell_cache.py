"""A cell cache filled by greenthreads under eventlet.monkey_patch(), as
Nova's services run: each greenthread checks for the cell, and when it is
missing loads it (a green sleep: the database call) and stores it. Every
greenthread that checks while another is loading loads it again."""
# CACHEWATCH-ARGS: --watch __main__:CELLS
# EXPECT: check-then-act __main__.CELLS lines=17,19
import eventlet

eventlet.monkey_patch()

CELLS = {}
loads = 0


def get_cell(uuid):
    global loads
    if uuid not in CELLS:
        cell = load_cell(uuid)
        CELLS[uuid] = cell
    return CELLS[uuid]


def load_cell(uuid):
    global loads
    loads += 1
    eventlet.sleep(0.001)
    return {"uuid": uuid, "load": loads}


def main():
    pool = eventlet.GreenPool()
    for i in range(8):
        pool.spawn(get_cell, f"cell{i % 2}")
    pool.waitall()
    print("loads:", loads)


if __name__ == "__main__":
    main()
