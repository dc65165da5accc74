"""Tasks ordered only by asyncio's hand-offs, each across awaits: a job
written by the producer and handed over an asyncio.Queue, an Event set after
a write, a task's result awaited, gather over workers that each fill their
own entry, then the parent updating every entry. Nothing here races."""
# RACY-TWIN: asyncio_handoffs.py
# CACHEWATCH-ARGS: --watch __main__:JOBS
# EXPECT: none
import asyncio

JOBS = {}


async def producer(queue, ready):
    for i in range(3):
        JOBS[i] = "new"
        await asyncio.sleep(0)
        await queue.put(i)
    JOBS["config"] = "loaded"
    ready.set()


async def consumer(queue):
    for _ in range(3):
        i = await queue.get()
        state = JOBS[i]
        await asyncio.sleep(0)
        JOBS[i] = state + ",done"


async def reader(ready):
    await ready.wait()
    value = JOBS.get("config")
    await asyncio.sleep(0)
    JOBS["config"] = value + ",seen"


async def worker(n):
    value = JOBS.get(("w", n), 0)
    await asyncio.sleep(0)
    JOBS[("w", n)] = value + 1
    return n


async def main():
    queue, ready = asyncio.Queue(), asyncio.Event()
    await asyncio.gather(producer(queue, ready), consumer(queue), reader(ready))
    task = asyncio.create_task(worker(99))
    await task
    await asyncio.gather(*(worker(n) for n in range(4)))
    for key in [k for k in JOBS if isinstance(k, tuple)]:
        value = JOBS[key]
        await asyncio.sleep(0)
        JOBS[key] = value * 10
    print(sorted(map(str, JOBS.items())))


if __name__ == "__main__":
    asyncio.run(main())
