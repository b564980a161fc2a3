"""A real HTTP receiver on 127.0.0.1 for webhook deliveries: records every attempt, can fail the first
N attempts, or hold the first request until released (a deterministic pause point for crash tests)."""

from __future__ import annotations

import http.server
import threading


class Receiver:
    def __init__(self, fail_first: int = 0, status: int = 500, hold_first: bool = False):
        self.attempts: list[dict] = []
        self.fail_first, self.status = fail_first, status
        self.first_arrived, self.release = threading.Event(), threading.Event()
        self.hold_first = hold_first
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.attempts.append(
                    {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
                )
                n = len(outer.attempts)
                if n == 1 and outer.hold_first:
                    outer.first_arrived.set()
                    outer.release.wait(30)
                code = outer.status if n <= outer.fail_first else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
