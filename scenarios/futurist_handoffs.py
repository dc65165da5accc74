"""futurist: the caller fills a cache entry while a task submitted to the
pool fills the same one, with nothing ordering them."""
# CACHEWATCH-ARGS: --watch __main__:CACHE
# EXPECT: check-then-act __main__.CACHE lines=11,12
import futurist

CACHE = {}


def fill(key, who):
    if key not in CACHE:
        CACHE[key] = who


def main():
    executor = futurist.ThreadPoolExecutor(max_workers=2)
    future = executor.submit(fill, "k", "task")
    fill("k", "caller")
    future.result()
    executor.shutdown()
    print(CACHE)


if __name__ == "__main__":
    main()
