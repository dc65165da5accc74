"""A stand-in for nova/context.py: CELL_CACHE filled by set_target_cell under
per-uuid locks (lockutils-style), and load_cells' lazily loaded CELLS."""
import time

from support.cells import create_context_manager, create_transport
from support.lockutils_like import synchronized

CELL_CACHE = {}
CELLS = []


def set_target_cell(context, cell_mapping):
    @synchronized(cell_mapping.uuid)
    def get_or_set_cached_cell_and_set_connections():
        try:
            cell_tuple = CELL_CACHE[cell_mapping.uuid]
        except KeyError:
            context.db_connection = create_context_manager(cell_mapping.database_connection)
            context.mq_connection = create_transport(cell_mapping.transport_url)
            CELL_CACHE[cell_mapping.uuid] = (context.db_connection, context.mq_connection)
        else:
            context.db_connection, context.mq_connection = cell_tuple

    get_or_set_cached_cell_and_set_connections()


def get_all():
    time.sleep(0.002)  # a database query
    return ["cell0", "cell1", "cell2"]


def load_cells():
    global CELLS
    if not CELLS:
        CELLS = get_all()
    return CELLS
