"""The racy twin of asyncio_handoffs_norace: the parent updates the workers'
entries after only a sleep, not after awaiting them; the read, the await and
the store race a worker's own update of its entry."""
# CACHEWATCH-ARGS: --watch __main__:JOBS
# EXPECT: check-then-act __main__.JOBS lines=29,31
import asyncio

JOBS = {}


async def worker(n):
    value = JOBS.get(n, 0)
    await asyncio.sleep(0)
    JOBS[n] = value + 1
    return n


async def main():
    for n in range(2):
        JOBS[n] = 0
    tasks = [asyncio.create_task(worker(n)) for n in range(2)]
    await asyncio.sleep(0)
    await touch_all()
    await asyncio.gather(*tasks)


async def touch_all():
    for key in (0, 1):
        value = JOBS[key]
        await asyncio.sleep(0)
        JOBS[key] = value * 10


if __name__ == "__main__":
    asyncio.run(main())
