"""Stand-ins for Nova's cell mappings, contexts and connection factories."""
import itertools
import time

_ids = itertools.count()


class CellMapping:
    def __init__(self, uuid):
        self.uuid = uuid
        self.database_connection = f"mysql+pymysql://nova:secret@db/{uuid}"
        self.transport_url = f"rabbit://nova:secret@mq/{uuid}"


class Context:
    db_connection = None
    mq_connection = None
    cell_uuid = None


def create_context_manager(connection):
    time.sleep(0.001)  # connecting takes a while: the window of the race
    return ("engine", connection, next(_ids))


def create_transport(url):
    return ("transport", url, next(_ids))


CELLS = [CellMapping(f"cell-{i}") for i in range(3)]
