"""A crawler that spawns one greenlet per URL into a gevent Group, which has
no size: all 1,200 fetches are alive at once (pool_backlog is 1,000), each
holding a connection."""
# CACHEWATCH-ARGS: --watch __main__:RESULTS
# EXPECT: unbounded-pool greenthread lines=20
import gevent
import gevent.pool

RESULTS = {}


def fetch(url):
    gevent.sleep(0.01)  # the request
    RESULTS[url] = len(url)


def main():
    group = gevent.pool.Group()
    for i in range(1200):
        group.spawn(fetch, f"https://example.org/{i}")
    group.join()
    print("fetched", len(RESULTS))


if __name__ == "__main__":
    main()
