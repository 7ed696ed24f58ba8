"""A gateway metrics endpoint on 127.0.0.1 whose counters the caller sets (tests and the demo)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class KongExposition:
    """Serves `kong_http_requests_total` for one service and route, per status code."""

    def __init__(self, service: str = "checkout", route: str = "pay") -> None:
        self.counts: dict[str, int] = {"200": 0, "500": 0}
        # When set, served instead of the exposition (an error page, a truncated body...).
        self.garbage: tuple[str, bytes] | None = None
        self._labels = f'service="{service}",route="{route}"'
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # name fixed by the stdlib
                content_type, body = owner.garbage or (
                    "text/plain; version=0.0.4",
                    owner.body().encode(),
                )
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the caller reads counters, not an access log

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def body(self) -> str:
        """The exposition as Kong 3.x writes it."""
        lines = ["# TYPE kong_http_requests_total counter"]
        for code, count in sorted(self.counts.items()):
            lines.append(
                f'kong_http_requests_total{{{self._labels},code="{code}",source="service",'
                f'workspace="default",consumer=""}} {count}'
            )
        return "\n".join(lines) + "\n"

    def serve(self, ok: int, errors: int) -> None:
        """Count `ok` answers of 200 and `errors` of 500, as traffic would."""
        self.counts["200"] += ok
        self.counts["500"] += errors

    def stop(self) -> None:
        """Stop answering (connections are refused from now on)."""
        self._server.shutdown()
        self._server.server_close()
