"""Test servers for tests/it/http.rs, each a real socket server on 127.0.0.1.

    http_servers.py MODE PORT COUNT_FILE [CERT KEY]

Prints `ready PID` once listening and exits when stdin closes. Each accepted connection
appends a line to COUNT_FILE, so a test can see how many connections `audit --http` made.

MODE:
  reject-host  421 to a Host that is not 127.0.0.1, localhost or [::1] (with or without port)
  acao-star    200 with Access-Control-Allow-Origin: * (and a preflight that allows POST)
  reflect      the Origin echoed in Access-Control-Allow-Origin with credentials, and a
               preflight that allows POST and private network access
  silent       accepts and never answers
  trickle      answers one byte a second
  tls          like reject-host's 200 for every Host, over TLS (CERT, KEY)
  page         serves one page whose script fetches the URL in its `t` parameter without and
               with credentials and writes `ANON READ|BLOCKED CREDS READ|BLOCKED` into the body
"""

import http.server
import os
import socket
import socketserver
import ssl
import sys
import threading
import time

mode, port, count_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
address = "127.0.0.2" if mode == "page" else "127.0.0.1"
PAGE = b"""<!doctype html><body><script>
const t = new URLSearchParams(location.search).get('t');
const ask = (opts) => fetch(t, opts).then(r => r.text()).then(() => 'READ', e => 'BLOCKED');
Promise.all([ask({}), ask({credentials: 'include'})]).then(([anon, creds]) => {
  document.body.textContent = 'ANON ' + anon + ' CREDS ' + creds;
});
</script></body>
"""
lock = threading.Lock()


def count():
    with lock:
        with open(count_file, "a") as f:
            f.write("conn\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        count()
        super().setup()

    def answer(self, code, headers, body=b""):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def cors(self, preflight):
        origin = self.headers.get("Origin")
        if mode == "acao-star":
            h = [("Access-Control-Allow-Origin", "*")]
            if preflight:
                h.append(("Access-Control-Allow-Methods", "GET, POST"))
            return h
        if mode == "reflect" and origin:
            h = [
                ("Access-Control-Allow-Origin", origin),
                ("Access-Control-Allow-Credentials", "true"),
                ("Vary", "Origin"),
            ]
            if preflight:
                h.append(("Access-Control-Allow-Methods", "POST"))
                if self.headers.get("Access-Control-Request-Private-Network") == "true":
                    h.append(("Access-Control-Allow-Private-Network", "true"))
            return h
        return []

    def do_GET(self):
        if mode == "page":
            return self.answer(200, [("Content-Type", "text/html")], PAGE)
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if mode == "reject-host" and host not in ("127.0.0.1", "localhost", "[::1]"):
            return self.answer(421, [], b"refused")
        self.answer(200, self.cors(False), b"served")

    def do_OPTIONS(self):
        self.answer(204 if self.cors(True) else 405, self.cors(True))


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def raw(serve_one):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)

    def loop():
        while True:
            c, _ = s.accept()
            count()
            threading.Thread(target=serve_one, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return s


def silent(c):
    # Hold the connection open and say nothing; the client's deadline ends it.
    while c.recv(4096):
        pass


def trickle(c):
    c.recv(4096)
    try:
        for b in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
            c.send(bytes([b]))
            time.sleep(1)
    except OSError:
        pass


if mode in ("silent", "trickle"):
    keep = raw(silent if mode == "silent" else trickle)
else:
    srv = Server((address, port), Handler)
    if mode == "tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[4], sys.argv[5])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()

print("ready", os.getpid(), flush=True)
sys.stdin.read()
