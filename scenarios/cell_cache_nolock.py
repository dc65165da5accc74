"""The same cache as cell_cache_per_uuid_lock_norace, filled without the
per-uuid lock: two API workers can both miss a cell and both create its
database and message-queue connections; one pair is lost (and leaks)."""
# CACHEWATCH-ARGS: --watch __main__:CELL_CACHE
# EXPECT: check-then-act __main__.CELL_CACHE lines=16,21
import threading

from support.cells import CELLS, Context, create_context_manager, create_transport

CELL_CACHE = {}


def set_target_cell(context, cell_mapping):
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


def api_worker():
    for _ in range(3):
        for cell in CELLS:
            set_target_cell(Context(), cell)


def main():
    threads = [threading.Thread(target=api_worker, name=f"api-{i}") for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("cached cells:", sorted(CELL_CACHE))


if __name__ == "__main__":
    main()
