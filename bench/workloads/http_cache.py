"""A threaded HTTP service with a module-level cache: ThreadingHTTPServer
(one thread per connection), eight keep-alive clients, responses computed
once per path under a lock and served from CACHE afterwards."""
import hashlib
import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCALE = 300           # requests per client
CLIENTS = 8
PATHS = 300

CACHE = {}            # path -> response body
CACHE_LOCK = threading.Lock()
STATS = {"hits": 0, "misses": 0}


def render(path):
    digest = path.encode()
    for _ in range(50):
        digest = hashlib.sha256(digest).digest()
    return (path + ":" + digest.hex()).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes

    def do_GET(self):
        with CACHE_LOCK:
            body = CACHE.get(self.path)
            if body is None:
                body = CACHE[self.path] = render(self.path)
                STATS["misses"] += 1
            else:
                STATS["hits"] += 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def client(port, n, seed, sizes):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    total = 0
    for i in range(n):
        conn.request("GET", f"/item/{(seed * 7919 + i * 31) % PATHS}")
        total += len(conn.getresponse().read())
    conn.close()
    sizes[seed] = total


def run(scale):
    CACHE.clear()
    STATS.update(hits=0, misses=0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    serving.start()
    sizes = {}
    clients = [threading.Thread(target=client, args=(server.server_address[1], scale, i, sizes))
               for i in range(CLIENTS)]
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    server.shutdown()
    serving.join()
    server.server_close()
    return sum(sizes.values()) + STATS["hits"] + STATS["misses"]
