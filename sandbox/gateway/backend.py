"""A controllable HTTP backend on 127.0.0.1 to put behind a real gateway in tests and demos.

The knobs are read on every request and may be changed from any thread while it serves:

* `error_rate` - the share of requests answered with an error, 0.0 to 1.0. The choice is
  deterministic, not random: an error is due whenever the accumulated rate reaches a whole
  request, so `error_rate=0.25` fails exactly one request in four and 20 requests at 0.5 give
  exactly 10 errors. Errors cycle through `error_codes` (500, 502, 503 by default).
* `latency` - seconds every request waits before it is answered (stop() cuts the wait short).
* `status` - when set, every request is answered with this status; `error_rate` is ignored.

`requests` counts the requests seen and `responses` how often each status was sent; `reset()`
zeroes both. Each response is HTTP/1.0 (one request per connection) with a small text body.
"""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sandbox.lifecycle import Startable

DEFAULT_ERROR_CODES = (500, 502, 503)
MAX_LATENCY = 60.0  # seconds; a guard against a typo stalling a test run
_MAX_BODY = 1 << 20  # request bodies read (and dropped) at most


class GatewayBackend(Startable):
    """A threaded HTTP server on 127.0.0.1 whose error rate and latency the caller controls."""

    def __init__(
        self,
        *,
        error_rate: float = 0.0,
        latency: float = 0.0,
        status: int | None = None,
        error_codes: tuple[int, ...] = DEFAULT_ERROR_CODES,
    ) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._error_rate = 0.0
        self._latency = 0.0
        self._status: int | None = None
        self._error_codes: tuple[int, ...] = DEFAULT_ERROR_CODES
        self._error_credit = 0.0
        self._next_error = 0
        self._requests = 0
        self._responses: Counter[int] = Counter()
        self.error_rate = error_rate
        self.latency = latency
        self.status = status
        self.error_codes = error_codes

    # -- knobs -------------------------------------------------------------------------------------

    @property
    def error_rate(self) -> float:
        """The share of requests answered with one of `error_codes` (0.0 to 1.0)."""
        with self._lock:
            return self._error_rate

    @error_rate.setter
    def error_rate(self, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"error_rate must be between 0.0 and 1.0, not {value!r}")
        with self._lock:
            self._error_rate = float(value)
            self._error_credit = 0.0

    @property
    def latency(self) -> float:
        """Seconds each request waits before it is answered."""
        with self._lock:
            return self._latency

    @latency.setter
    def latency(self, value: float) -> None:
        if not 0.0 <= value <= MAX_LATENCY:
            raise ValueError(f"latency must be between 0 and {MAX_LATENCY} seconds, not {value!r}")
        with self._lock:
            self._latency = float(value)

    @property
    def status(self) -> int | None:
        """A status every request is answered with, or None to apply `error_rate`."""
        with self._lock:
            return self._status

    @status.setter
    def status(self, value: int | None) -> None:
        if value is not None:
            _check_status(value)
        with self._lock:
            self._status = value

    @property
    def error_codes(self) -> tuple[int, ...]:
        """The error statuses used in turn when `error_rate` calls for an error."""
        with self._lock:
            return self._error_codes

    @error_codes.setter
    def error_codes(self, value: tuple[int, ...]) -> None:
        codes = tuple(value)
        if not codes:
            raise ValueError("error_codes must not be empty")
        for code in codes:
            _check_status(code)
        with self._lock:
            self._error_codes = codes
            self._next_error = 0

    # -- counters ----------------------------------------------------------------------------------

    @property
    def requests(self) -> int:
        """How many requests the backend has received since start (or the last reset)."""
        with self._lock:
            return self._requests

    @property
    def responses(self) -> dict[int, int]:
        """How many responses were sent per status code."""
        with self._lock:
            return dict(self._responses)

    def reset(self) -> None:
        """Zero the request and response counters (the knobs stay as they are)."""
        with self._lock:
            self._requests = 0
            self._responses.clear()
            self._error_credit = 0.0
            self._next_error = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> GatewayBackend:
        """Bind a free port on 127.0.0.1 (the same one again after a stop) and serve."""
        with self._lock:
            if self._server is not None:
                return self
            self._stopping.clear()
            server = _Server(self, self._port)
            self._server = server
            self._port = server.server_address[1]
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"gateway-backend-{self._port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the port; requests sleeping in `latency` are answered at once."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = None
            self._thread = None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def running(self) -> bool:
        """Whether the backend is serving."""
        with self._lock:
            return self._server is not None

    @property
    def port(self) -> int:
        """The TCP port on 127.0.0.1."""
        if not self._port:
            raise RuntimeError("GatewayBackend is not started")
        return self._port

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    # -- used by the request handler ---------------------------------------------------------------

    def _decide(self) -> tuple[int, float]:
        """Count one request and pick its status and delay."""
        with self._lock:
            self._requests += 1
            status = self._status
            if status is None:
                status = 200
                self._error_credit += self._error_rate
                if self._error_credit >= 1.0 - 1e-9:
                    self._error_credit = max(0.0, self._error_credit - 1.0)
                    status = self._error_codes[self._next_error % len(self._error_codes)]
                    self._next_error += 1
            return status, self._latency

    def _record(self, status: int) -> None:
        with self._lock:
            self._responses[status] += 1

    def _pause(self, seconds: float) -> None:
        """Wait `seconds`, or less when the backend is stopping."""
        if seconds > 0:
            self._stopping.wait(seconds)


def _check_status(value: int) -> None:
    if not isinstance(value, int) or not 100 <= value <= 599:
        raise ValueError(f"not an HTTP status code: {value!r}")


class _Server(ThreadingHTTPServer):
    """The HTTP server, holding its backend for the request handler."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, backend: GatewayBackend, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.backend = backend


class _Handler(BaseHTTPRequestHandler):
    """Answers any method on any path according to the backend's knobs."""

    server: _Server
    protocol_version = "HTTP/1.0"

    def _answer(self) -> None:
        backend = self.server.backend
        self._drain_body()
        status, delay = backend._decide()
        backend._pause(delay)
        body = b"" if self.command == "HEAD" else f"status {status}\n".encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if body:
                self.wfile.write(body)
        except OSError:  # the client (the gateway) gave up, e.g. on its server timeout
            return
        backend._record(status)

    def _drain_body(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if 0 < length <= _MAX_BODY:
            self.rfile.read(length)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet: tests read the counters, not a log."""
