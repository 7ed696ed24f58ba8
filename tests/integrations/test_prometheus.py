"""Metric sources against a real HTTP server on 127.0.0.1, plus the SSRF guard and env headers."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.alerts.engine.model import FailureKind, Scrape, ScrapeFailure
from bot.integrations.prometheus import ExpositionSource, PromQLSource, check_url, headers_from_env
from bot.ports import MetricSource

FIXTURES = Path(__file__).parent.parent / "alerts" / "engine" / "fixtures"
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
HUGE = 50 * 1024 * 1024
CHUNK = 64 * 1024
TIMEOUT = 0.3
TOKEN = "canary-token-7f3e"


class Handler(BaseHTTPRequestHandler):
    """A scriptable metrics endpoint and Prometheus API; behaviour chosen by path."""

    hits: ClassVar[Counter[str]] = Counter()
    huge_sent: ClassVar[list[int]] = []
    huge_done = threading.Event()
    release = threading.Event()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(OSError):  # the client gave up (timeout tests)
            self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.hits[url.path] += 1
        kong = (FIXTURES / "kong_3.prom").read_bytes()
        if url.path == "/metrics":
            self._send(200, kong, "text/plain; version=0.0.4; charset=utf-8")
        elif url.path == "/om":
            accept = self.headers.get("Accept", "")
            body = (FIXTURES / "traefik_3.om").read_bytes()
            ctype = "application/openmetrics-text; version=1.0.0; charset=utf-8"
            if accept.startswith("application/openmetrics-text"):
                self._send(200, body, ctype)
            else:
                self._send(406, b"", "text/plain")
        elif url.path == "/auth":
            ok = self.headers.get("Authorization") == f"Bearer {TOKEN}"
            self._send(200 if ok else 401, kong if ok else b"no", "text/plain; version=0.0.4")
        elif url.path == "/slow":
            self.release.wait(5)
            self._send(200, kong, "text/plain; version=0.0.4")
        elif url.path == "/redirect":
            self._send(302, b"", "text/plain", Location="/metrics")
        elif url.path == "/unavailable":
            self._send(503, b"<html>503</html>", "text/html")
        elif url.path == "/html":
            body = (FIXTURES / "garbage_html_502.html").read_bytes()
            self._send(200, body, "text/html; charset=utf-8")
        elif url.path == "/declared-huge":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(HUGE))
            self.end_headers()
        elif url.path == "/huge":
            self._huge()
        elif url.path == "/drip":
            self._drip()
        elif url.path.startswith("/prom"):
            self._promql(url.path, parse_qs(url.query))
        else:
            self._send(404, b"", "text/plain")

    def _huge(self) -> None:
        """50 MB of valid-looking lines, no Content-Length, stopping when the client hangs up."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        line = b"# filler line to make the body huge, as a runaway exporter would xxxxxxxxxxxx\n"
        chunk = line * (CHUNK // len(line))
        sent = 0
        try:
            while sent < HUGE:
                self.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass
        finally:
            self.huge_sent.append(sent)
            self.huge_done.set()

    def _drip(self) -> None:
        """A valid line every 50 ms: each read beats the timeout, the whole body never does."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        with contextlib.suppress(OSError):
            for i in range(100):
                self.wfile.write(f"# TYPE g{i} gauge\ng{i} 1\n".encode())
                self.wfile.flush()
                if self.release.wait(0.05):
                    break

    def _promql(self, path: str, params: dict[str, list[str]]) -> None:
        if path == "/prom-down/api/v1/query":
            self._send(503, b"Service Unavailable", "text/plain")
            return
        if path == "/prom-html/api/v1/query":
            self._send(200, b"<html>login</html>", "text/html")
            return
        query = params["query"][0]
        assert params["time"] == [f"{NOW.timestamp():.3f}"]
        answers: dict[str, tuple[int, object]] = {
            "sum by (service) (rate(errors[5m]))": (
                200,
                {
                    "status": "success",
                    "data": {
                        "resultType": "vector",
                        "result": [
                            {"metric": {"service": "orders"}, "value": [NOW.timestamp(), "0.25"]},
                            {"metric": {"service": "idle"}, "value": [NOW.timestamp(), "NaN"]},
                        ],
                    },
                },
            ),
            "scalar(vector(0.5))": (
                200,
                {"status": "success", "data": {"resultType": "scalar", "result": [1.0, "0.5"]}},
            ),
            "rate(x[": (
                400,
                {"status": "error", "errorType": "bad_data", "error": "parse error: secret-ish"},
            ),
            "up[5m]": (
                200,
                {"status": "success", "data": {"resultType": "matrix", "result": []}},
            ),
        }
        status, answer = answers[query]
        self._send(status, json.dumps(answer).encode(), "application/json")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The scriptable server on an ephemeral 127.0.0.1 port; yields its base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    Handler.release.set()
    httpd.shutdown()
    httpd.server_close()


def _failure(result: Scrape | ScrapeFailure) -> ScrapeFailure:
    assert isinstance(result, ScrapeFailure), result
    assert result.at == NOW
    return result


def _scrape(url: str, **kwargs: Any) -> Scrape | ScrapeFailure:
    source = ExpositionSource("gw", url, timeout=TIMEOUT, **kwargs)
    try:
        return source.read(NOW)
    finally:
        source.close()


def test_sources_satisfy_the_protocol(server: str) -> None:
    """Both source classes are MetricSources the poller can hold side by side."""
    exposition = ExpositionSource("a", server + "/metrics", timeout=TIMEOUT)
    promql = PromQLSource("b", server + "/prom", {}, timeout=TIMEOUT)
    sources: list[MetricSource] = [exposition, promql]
    results = [source.read(NOW) for source in sources]
    exposition.close()
    promql.close()
    assert [r.source_id for r in results] == ["a", "b"]
    assert all(isinstance(r, Scrape) for r in results)


def test_ok_scrape(server: str) -> None:
    """A text exposition becomes a Scrape stamped with the caller's time."""
    result = _scrape(server + "/metrics")
    assert isinstance(result, Scrape)
    assert result.source_id == "gw" and result.at == NOW
    assert any(s.name == "kong_http_requests_total" for s in result.samples)


def test_openmetrics_is_requested_first(server: str) -> None:
    """The Accept header prefers OpenMetrics, and an OpenMetrics answer parses."""
    result = _scrape(server + "/om")
    assert isinstance(result, Scrape)
    assert any(s.name == "traefik_service_requests_created" for s in result.samples)


def test_headers_are_sent(server: str) -> None:
    """Configured headers reach the endpoint; without them the endpoint refuses."""
    assert isinstance(
        _scrape(server + "/auth", headers={"Authorization": f"Bearer {TOKEN}"}), Scrape
    )
    failure = _failure(_scrape(server + "/auth"))
    assert failure.kind is FailureKind.REFUSED and failure.detail == "HTTP 401"
    assert TOKEN not in failure.detail


def test_connection_refused_is_down() -> None:
    """Nothing listening on the port reads as DOWN."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    failure = _failure(_scrape(f"http://127.0.0.1:{port}/metrics"))
    assert failure.kind is FailureKind.DOWN


def test_slow_answer_is_a_timeout(server: str) -> None:
    """An endpoint slower than the timeout reads as TIMEOUT, promptly."""
    started = time.monotonic()
    failure = _failure(_scrape(server + "/slow"))
    assert failure.kind is FailureKind.TIMEOUT
    assert time.monotonic() - started < 2 * TIMEOUT + 0.5


def test_dribbling_body_is_a_timeout(server: str) -> None:
    """A body that trickles in under the per-read timeout still has to finish within it."""
    started = time.monotonic()
    failure = _failure(_scrape(server + "/drip"))
    assert failure.kind is FailureKind.TIMEOUT
    assert time.monotonic() - started < 2 * TIMEOUT + 0.5


def test_redirect_is_refused_not_followed(server: str) -> None:
    """A 302 is REFUSED and its target is never fetched."""
    before = Handler.hits["/metrics"]
    failure = _failure(_scrape(server + "/redirect"))
    assert failure.kind is FailureKind.REFUSED and "302" in failure.detail
    assert Handler.hits["/metrics"] == before


def test_503_is_down(server: str) -> None:
    """A 5xx answer reads as DOWN and its body is not parsed."""
    failure = _failure(_scrape(server + "/unavailable"))
    assert (failure.kind, failure.detail) == (FailureKind.DOWN, "HTTP 503")


def test_html_200_is_a_parse_error(server: str) -> None:
    """A 200 with an HTML page is PARSE_ERROR, and the page text is not in the detail."""
    failure = _failure(_scrape(server + "/html"))
    assert failure.kind is FailureKind.PARSE_ERROR
    assert "Bad Gateway" not in failure.detail


def test_declared_oversize_is_refused_before_reading(server: str) -> None:
    """A Content-Length over the cap is TOO_LARGE without reading the body."""
    failure = _failure(_scrape(server + "/declared-huge"))
    assert failure.kind is FailureKind.TOO_LARGE


def test_huge_streamed_body_stops_at_the_cap(server: str) -> None:
    """A 50 MB unsized body is cut at 5 MiB: TOO_LARGE, bounded memory, most never sent."""
    Handler.huge_done.clear()
    source = ExpositionSource("gw", server + "/huge", timeout=5.0, max_bytes=5 * 1024 * 1024)
    tracemalloc.start()
    try:
        failure = _failure(source.read(NOW))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        source.close()
    assert failure.kind is FailureKind.TOO_LARGE
    assert peak < 20 * 1024 * 1024
    assert Handler.huge_done.wait(5)
    # Loopback socket buffers absorb a few MB beyond the cap, never the remaining 45.
    assert Handler.huge_sent[-1] < HUGE // 2


def test_url_outside_allowed_hosts_is_refused_without_a_request(server: str) -> None:
    """With an allow-list that lacks 127.0.0.1 the read is REFUSED and nothing is fetched."""
    before = sum(Handler.hits.values())
    failure = _failure(_scrape(server + "/metrics", allowed_hosts=["gw.example.com"]))
    assert failure.kind is FailureKind.REFUSED
    assert sum(Handler.hits.values()) == before


def _promql(server: str, queries: dict[str, str], path: str = "/prom") -> Scrape | ScrapeFailure:
    source = PromQLSource("prom", server + path, queries, timeout=TIMEOUT)
    try:
        return source.read(NOW)
    finally:
        source.close()


def test_promql_vector_and_scalar(server: str) -> None:
    """Vector and scalar answers become samples named after their queries, NaN included."""
    result = _promql(
        server,
        {"error_rate": "sum by (service) (rate(errors[5m]))", "half": "scalar(vector(0.5))"},
    )
    assert isinstance(result, Scrape)
    by_key = {(s.name, s.labels): s.value for s in result.samples}
    assert by_key[("error_rate", (("service", "orders"),))] == 0.25
    assert by_key[("half", ())] == 0.5
    idle = by_key[("error_rate", (("service", "idle"),))]
    assert idle != idle  # NaN kept; the rule engine ignores non-finite values


def test_promql_error_envelope_is_a_parse_error(server: str) -> None:
    """A bad_data envelope fails the whole read with its errorType, not its message."""
    result = _promql(server, {"ok": "scalar(vector(0.5))", "broken": "rate(x["})
    failure = _failure(result)
    assert failure.kind is FailureKind.PARSE_ERROR
    assert "bad_data" in failure.detail and "secret-ish" not in failure.detail


def test_promql_matrix_is_a_parse_error(server: str) -> None:
    """A range-vector answer is not an instant value the rules could use."""
    assert _failure(_promql(server, {"m": "up[5m]"})).kind is FailureKind.PARSE_ERROR


def test_promql_503_is_down(server: str) -> None:
    """A 503 from the Prometheus API (or a proxy before it) reads as DOWN."""
    failure = _failure(_promql(server, {"q": "up"}, path="/prom-down"))
    assert failure.kind is FailureKind.DOWN


def test_promql_non_json_answer_is_a_parse_error(server: str) -> None:
    """A 200 that is not a Prometheus envelope (a proxy's login page) is PARSE_ERROR."""
    failure = _failure(_promql(server, {"q": "up"}, path="/prom-html"))
    assert failure.kind is FailureKind.PARSE_ERROR and "login" not in failure.detail


def _resolver(table: dict[str, Sequence[str]]) -> Any:
    def resolve(host: str) -> Sequence[str]:
        if host not in table:
            raise socket.gaierror(host)
        return table[host]

    return resolve


@pytest.mark.parametrize(
    ("url", "allowed", "dns", "refused"),
    [
        ("http://169.254.169.254/latest/meta-data/", ["169.254.169.254"], {}, "link-local"),
        ("http://meta.corp/metrics", ["meta.corp"], {"meta.corp": ["169.254.169.254"]}, "metadata"),
        ("http://[fe80::1]/metrics", ["fe80::1"], {}, "link-local"),
        ("http://[::ffff:169.254.169.254]/", ["::ffff:169.254.169.254"], {}, "link-local"),
        ("file:///etc/passwd", ["localhost"], {}, "scheme"),
        ("gopher://gw.corp/", ["gw.corp"], {}, "scheme"),
        ("http://evil.example/metrics", ["gw.corp"], {}, "not in the allowed"),
        ("http://gw.corp.evil.example/", ["gw.corp"], {}, "not in the allowed"),
        ("http://gw.corp@evil.example/", ["gw.corp", "evil.example"], {}, "credentials"),
        ("http://a.gw.corp/metrics", ["*.gw.corp"], {"a.gw.corp": ["10.1.2.3"]}, "exactly"),
        ("http://a.gw.corp/metrics", ["*.gw.corp"], {"a.gw.corp": ["127.0.0.1"]}, "exactly"),
        ("http://gw.corp/metrics", ["*.gw.corp"], {"gw.corp": ["10.1.2.3"]}, "not in the allowed"),
        ("http://gw.corp:99999/metrics", ["gw.corp"], {}, "malformed"),
        ("http://b.gw.corp/", ["*.gw.corp"], {"b.gw.corp": ["100.64.0.7"]}, "exactly"),
        ("http://0.0.0.0:8001/metrics", ["*.gw.corp", "gw.corp"], {}, "not in the allowed"),
        (
            "http://alibaba.corp/",
            ["alibaba.corp"],
            {"alibaba.corp": ["100.100.100.200"]},
            "metadata",
        ),
    ],
)
def test_check_url_refuses(
    url: str, allowed: list[str], dns: dict[str, Sequence[str]], refused: str
) -> None:
    """Forbidden schemes, hosts and addresses are refused with a reason."""
    reason = check_url(url, allowed, resolve=_resolver(dns))
    assert reason is not None and refused in reason


@pytest.mark.parametrize(
    ("url", "allowed", "dns"),
    [
        ("http://127.0.0.1:9091/apisix/prometheus/metrics", ["127.0.0.1"], {}),
        ("http://[::1]:8001/metrics", ["[::1]"], {}),
        ("http://localhost:8405/metrics", ["LOCALHOST"], {"localhost": ["127.0.0.1", "::1"]}),
        ("https://kong.internal/metrics", ["kong.internal"], {"kong.internal": ["10.0.3.14"]}),
        ("https://x.grafana.net/api/prom", ["*.grafana.net"], {"x.grafana.net": ["34.120.1.2"]}),
        ("http://gw.down/metrics", ["gw.down"], {}),  # DNS failure: the fetch will say DOWN
    ],
)
def test_check_url_allows(url: str, allowed: list[str], dns: dict[str, Sequence[str]]) -> None:
    """Explicitly listed hosts, loopback and private included, and public wildcard hosts pass."""
    assert check_url(url, allowed, resolve=_resolver(dns)) is None


def test_headers_from_env() -> None:
    """Header values are read from the named environment variables."""
    environ = {"KONG_TOKEN": "s3cret", "OTHER": "x"}
    spec = {"Authorization": "KONG_TOKEN"}
    assert headers_from_env(spec, environ) == {"Authorization": "s3cret"}


@pytest.mark.parametrize("environ", [{}, {"KONG_TOKEN": "  "}, {"KONG_TOKEN": "a\r\nX-Evil: 1"}])
def test_headers_from_env_errors_name_the_variable_not_the_value(environ: dict[str, str]) -> None:
    """A missing, blank or multi-line variable is a ValueError naming the variable only."""
    with pytest.raises(ValueError, match="KONG_TOKEN") as info:
        headers_from_env({"Authorization": "KONG_TOKEN"}, environ)
    assert "X-Evil" not in str(info.value)
