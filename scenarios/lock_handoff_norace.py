"""Locks and semaphores used as signals, not as mutexes: a Lock acquired by
the main thread and released by a worker when its work is done, and a
Semaphore(0) released by a producer. A release by a thread that did not
acquire is a hand-off and orders what came before it."""
# CACHEWATCH-ARGS: --watch __main__:RESULTS
# EXPECT: none
# RACY-TWIN: dict_handoffs.py
import threading

RESULTS = {}


def produce(key, done):
    if key not in RESULTS:
        RESULTS[key] = "produced"
    done.release()


def main():
    done = threading.Lock()
    done.acquire()
    worker = threading.Thread(target=produce, args=("lock", done))
    worker.start()
    done.acquire()  # blocks until the worker's release
    if RESULTS.get("lock") == "produced":
        RESULTS["lock"] = "consumed"

    signal = threading.Semaphore(0)
    producer = threading.Thread(target=produce, args=("semaphore", signal))
    producer.start()
    signal.acquire()
    if RESULTS.get("semaphore") == "produced":
        RESULTS["semaphore"] = "consumed"
    worker.join()
    producer.join()
    print(RESULTS)


if __name__ == "__main__":
    main()
