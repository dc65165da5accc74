"""The fixed twin of pool_per_call: one shared pool for the whole program,
or a pool per call inside a with block, which shuts it down."""
# CACHEWATCH-ARGS: --executor-leak-count 5
# EXPECT: none
# RACY-TWIN: pool_per_call.py
from concurrent.futures import ThreadPoolExecutor

SHARED = ThreadPoolExecutor(max_workers=2)


def fetch_all(urls):
    return [f.result() for f in [SHARED.submit(len, url) for url in urls]]


def fetch_all_scoped(urls):
    with ThreadPoolExecutor(max_workers=2) as executor:
        return [f.result() for f in [executor.submit(len, url) for url in urls]]


def main():
    for i in range(8):
        fetch_all([f"http://service/{i}/{j}" for j in range(3)])
        fetch_all_scoped([f"http://service/{i}/{j}" for j in range(3)])
    SHARED.shutdown()
    print("ok")


if __name__ == "__main__":
    main()
