"""A producer/consumer pipeline: a reader feeds a bounded queue, four parser
threads turn lines into records for a second queue, and one aggregator
thread owns TOTALS (no lock needed: only it writes, and the main thread
reads after joining it)."""
import queue
import threading

SCALE = 60000         # lines
PARSERS = 4

TOTALS = {}           # region -> [count, amount]
SEEN_REGIONS = set()
DONE = object()


def produce(lines, n):
    for i in range(n):
        lines.put(f"{i},region-{i % 37},{(i * 7) % 1000}.{i % 100:02d}")
    for _ in range(PARSERS):
        lines.put(DONE)


def parse(lines, records):
    while True:
        line = lines.get()
        if line is DONE:
            records.put(DONE)
            return
        ident, region, amount = line.split(",")
        records.put((region, int(ident), float(amount)))


def aggregate(records):
    finished = 0
    while finished < PARSERS:
        item = records.get()
        if item is DONE:
            finished += 1
            continue
        region, _, amount = item
        entry = TOTALS.get(region)
        if entry is None:
            entry = TOTALS[region] = [0, 0.0]
            SEEN_REGIONS.add(region)
        entry[0] += 1
        entry[1] += amount


def run(scale):
    TOTALS.clear()
    SEEN_REGIONS.clear()
    lines, records = queue.Queue(maxsize=200), queue.Queue(maxsize=200)
    threads = [threading.Thread(target=produce, args=(lines, scale)),
               threading.Thread(target=aggregate, args=(records,))]
    threads += [threading.Thread(target=parse, args=(lines, records)) for _ in range(PARSERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(c for c, _ in TOTALS.values()) + round(sum(a for _, a in TOTALS.values()))
