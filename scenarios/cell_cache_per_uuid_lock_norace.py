"""Nova's set_target_cell (nova/context.py, Zed): CELL_CACHE filled under a
per-uuid lock from a lockutils-style registry whose semaphores are held
weakly and made anew when unused. Every check and insert of a uuid's entry
happens under that uuid's lock, so there is no race, even though the lock
object for a uuid is not always the same object."""
# CACHEWATCH-ARGS: --watch __main__:CELL_CACHE
# EXPECT: none
# RACY-TWIN: cell_cache_nolock.py
import threading
import time

from support.cells import CELLS, Context, create_context_manager, create_transport
from support.lockutils_like import synchronized

CELL_CACHE = {}


def set_target_cell(context, cell_mapping):
    @synchronized(cell_mapping.uuid)
    def get_or_set_cached_cell_and_set_connections():
        try:
            cell_tuple = CELL_CACHE[cell_mapping.uuid]
        except KeyError:
            context.db_connection = create_context_manager(cell_mapping.database_connection)
            context.mq_connection = create_transport(cell_mapping.transport_url)
            context.cell_uuid = cell_mapping.uuid
            CELL_CACHE[cell_mapping.uuid] = (context.db_connection, context.mq_connection)
        else:
            context.db_connection, context.mq_connection = cell_tuple
            context.cell_uuid = cell_mapping.uuid

    get_or_set_cached_cell_and_set_connections()


def api_worker(index):
    for round_ in range(6):
        for cell in CELLS:
            set_target_cell(Context(), cell)
        time.sleep(0.002 * ((index + round_) % 3))  # let unused semaphores die


def main():
    threads = [threading.Thread(target=api_worker, args=(i,), name=f"api-{i}") for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("cached cells:", sorted(CELL_CACHE))


if __name__ == "__main__":
    main()
