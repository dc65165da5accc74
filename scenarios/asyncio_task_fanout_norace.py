"""The fixed twin of asyncio_task_fanout: the same 1,200 tasks, but an
asyncio.Semaphore lets 50 fetch at a time; the rest wait for it, holding
nothing."""
# CACHEWATCH-ARGS: --watch __main__:RESULTS
# EXPECT: none
import asyncio

RESULTS = {}


async def fetch(url, slots):
    async with slots:
        await asyncio.sleep(0.01)  # the request
        RESULTS[url] = len(url)


async def main():
    slots = asyncio.Semaphore(50)
    urls = [f"https://example.org/{i}" for i in range(1200)]
    await asyncio.gather(*(fetch(url, slots) for url in urls))
    print("fetched", len(RESULTS))


if __name__ == "__main__":
    asyncio.run(main())
