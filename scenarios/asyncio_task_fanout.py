"""A crawler that makes one task per URL and gathers them all: every fetch
is in flight at once, as many as there are URLs (here 1,200 against a
pool_backlog of 1,000), each holding a connection."""
# CACHEWATCH-ARGS: --watch __main__:RESULTS
# EXPECT: unbounded-pool asyncio.Task lines=18
import asyncio

RESULTS = {}


async def fetch(url):
    await asyncio.sleep(0.01)  # the request
    RESULTS[url] = len(url)


async def main():
    urls = [f"https://example.org/{i}" for i in range(1200)]
    await asyncio.gather(*(fetch(url) for url in urls))
    print("fetched", len(RESULTS))


if __name__ == "__main__":
    asyncio.run(main())
