"""The fixed twin of gevent_pool_unbounded: a gevent Pool of 50; spawn waits
for room, so at most 50 fetches are alive at once."""
# CACHEWATCH-ARGS: --watch __main__:RESULTS
# EXPECT: none
import gevent
import gevent.pool

RESULTS = {}


def fetch(url):
    gevent.sleep(0.01)  # the request
    RESULTS[url] = len(url)


def main():
    pool = gevent.pool.Pool(50)
    for i in range(1200):
        pool.spawn(fetch, f"https://example.org/{i}")
    pool.join()
    print("fetched", len(RESULTS))


if __name__ == "__main__":
    main()
