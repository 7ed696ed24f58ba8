"""Metric sources over HTTP: scrape an exposition endpoint, or ask a Prometheus server with PromQL.

A source's `read` never raises: every way a read can fail becomes a `ScrapeFailure` whose
`detail` is a short reason for operators (never the response body, never header values), so the
poller can count failures per source (F8–F10) without ever evaluating rules on partial data.
Every read re-checks the URL against the SSRF rules first, because DNS answers may change.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlsplit

import httpx

from bot.alerts.engine.exposition import ExpositionError, parse_exposition
from bot.alerts.engine.model import FailureKind, Sample, Scrape, ScrapeFailure
from bot.alerts.engine.program import SourceConfig
from bot.alerts.engine.promql import ReadError, http_failure, query_samples
from bot.ports import MetricSource

log = logging.getLogger(__name__)

MAX_BYTES = 5 * 1024 * 1024
# What Prometheus itself sends: OpenMetrics first, then text 0.0.4, then whatever the server has.
ACCEPT_EXPOSITION = (
    "application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
# Cloud metadata endpoints outside link-local ranges (Alibaba, AWS over IPv6).
_METADATA_IPS = {ipaddress.ip_address("100.100.100.200"), ipaddress.ip_address("fd00:ec2::254")}

Resolver = Callable[[str], Sequence[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def headers_from_env(spec: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """Build request headers from `header name -> environment variable name`."""
    headers: dict[str, str] = {}
    for header, variable in spec.items():
        value = environ.get(variable)
        # Errors name the variable only: the value is a secret (a bearer token, an API key).
        if value is None:
            raise ValueError(f"environment variable {variable} (for header {header}) is not set")
        if not value.strip():
            raise ValueError(f"environment variable {variable} (for header {header}) is empty")
        if "\r" in value or "\n" in value:
            raise ValueError(f"environment variable {variable} (for header {header}) has a newline")
        headers[header] = value
    return headers


def _resolve(host: str) -> Sequence[str]:
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


def _host_matches(host: str, entry: str) -> tuple[bool, bool]:
    """(matches, exactly): `*.example.com` matches any subdomain, never example.com itself."""
    entry = entry.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")
    if entry.startswith("*."):
        return host.endswith(entry[1:]), False
    if host == entry:
        return True, True
    try:
        return ipaddress.ip_address(host) == ipaddress.ip_address(entry), True
    except ValueError:
        return False, False


def _ip_reason(ip: IPAddress, exact: bool) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local or ip in _METADATA_IPS:
        return f"address {ip} is link-local or cloud metadata"
    if ip.is_multicast:
        return f"address {ip} is multicast"
    if not ip.is_global and not exact:
        # Loopback, private, CGNAT, 0.0.0.0: a wildcard entry would let whoever controls one
        # subdomain's DNS point the bot inside the network (or at itself).
        return f"address {ip} is internal; list the host exactly, not by wildcard"
    return None


def check_url(
    url: str, allowed_hosts: Sequence[str], *, resolve: Resolver = _resolve
) -> str | None:
    """Return why the bot must not fetch `url`, or None when it may."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "malformed URL"
    if parts.scheme not in ("http", "https"):
        return f"scheme {parts.scheme or '(none)'!r} is not http or https"
    if not host:
        return "URL has no host"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL are not allowed; use headers"
    matches = [_host_matches(host, entry) for entry in allowed_hosts]
    if not any(m for m, _ in matches):
        return f"host {host} is not in the allowed hosts"
    exact = any(m and e for m, e in matches)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolve(host)]
        except (OSError, UnicodeError):
            return None  # not a policy question: the fetch fails on its own and reads as DOWN
    for ip in addresses:
        reason = _ip_reason(ip, exact)
        if reason:
            return f"host {host}: {reason}"
    return None


class _HttpSource:
    """What both sources share: SSRF check, bounded GET, and failure mapping."""

    def __init__(
        self,
        source_id: str,
        url: str,
        *,
        timeout: float,
        max_bytes: int = MAX_BYTES,
        headers: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
        allowed_hosts: Sequence[str] | None = None,
    ) -> None:
        self.source_id = source_id
        self._url = url
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._headers = dict(headers or {})
        # Without an explicit list, the configured URL's own host (set by an admin) is the list.
        self._allowed = (
            tuple(allowed_hosts) if allowed_hosts is not None else (urlsplit(url).hostname or "",)
        )
        # trust_env=False: an HTTP(S)_PROXY from the environment would bypass the SSRF check.
        self._client = client or httpx.Client(trust_env=False)
        self._own_client = client is None

    def close(self) -> None:
        """Release the HTTP client if this source created it."""
        if self._own_client:
            self._client.close()

    def _read(
        self, now: dt.datetime, fetch: Callable[[float], tuple[Sample, ...]]
    ) -> Scrape | ScrapeFailure:
        try:
            reason = check_url(self._url, self._allowed)
            if reason:
                raise ReadError(FailureKind.REFUSED, reason)
            samples = fetch(time.monotonic() + self._timeout)
        except ReadError as failed:
            return ScrapeFailure(self.source_id, now, failed.kind, failed.detail)
        except Exception as error:  # read() must never raise; this is a bug, not a peer problem
            log.exception("metrics source %s: unexpected error", self.source_id)
            return ScrapeFailure(self.source_id, now, FailureKind.DOWN, type(error).__name__)
        return Scrape(self.source_id, now, samples)

    def _get(
        self, url: str, deadline: float, *, params: Mapping[str, str] | None = None, accept: str
    ) -> tuple[int, str | None, bytes]:
        """GET with no redirects, a hard deadline and a size cap; returns status, type, body."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ReadError(FailureKind.TIMEOUT, f"no time left within {self._timeout:g}s")
        headers = {"Accept": accept, **self._headers}
        try:
            with self._client.stream(
                "GET",
                url,
                params=params,
                headers=headers,
                timeout=httpx.Timeout(remaining),
                follow_redirects=False,
            ) as response:
                status = response.status_code
                if 300 <= status < 400:
                    raise ReadError(FailureKind.REFUSED, f"HTTP {status} redirect not followed")
                length = response.headers.get("Content-Length", "")
                if length.isascii() and length.isdigit() and int(length) > self._max_bytes:
                    raise ReadError(FailureKind.TOO_LARGE, f"Content-Length {length} over cap")
                body = self._body(response, deadline)
                return status, response.headers.get("Content-Type"), body
        except httpx.TimeoutException:
            raise ReadError(FailureKind.TIMEOUT, f"no answer within {self._timeout:g}s") from None
        except httpx.HTTPError as error:  # connect refused, DNS, TLS, reset, bad HTTP
            raise ReadError(FailureKind.DOWN, type(error).__name__) from None

    def _body(self, response: httpx.Response, deadline: float) -> bytes:
        """Read at most max_bytes (decoded), then drop the connection instead of draining it."""
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self._max_bytes:
                raise ReadError(FailureKind.TOO_LARGE, f"body over {self._max_bytes} bytes")
            if time.monotonic() > deadline:
                # A server dribbling bytes keeps each read under the timeout; cap the total too.
                raise ReadError(FailureKind.TIMEOUT, f"body not complete within {self._timeout:g}s")
            chunks.append(chunk)
        return b"".join(chunks)


class ExpositionSource(_HttpSource):
    """Scrapes a Prometheus/OpenMetrics endpoint (a gateway's /metrics)."""

    def read(self, now: dt.datetime) -> Scrape | ScrapeFailure:
        """Scrape once."""
        return self._read(now, self._scrape)

    def _scrape(self, deadline: float) -> tuple[Sample, ...]:
        status, content_type, body = self._get(self._url, deadline, accept=ACCEPT_EXPOSITION)
        failure = http_failure(status)
        if failure:
            raise failure
        try:
            return parse_exposition(body, content_type)
        except ExpositionError as error:
            raise ReadError(FailureKind.PARSE_ERROR, str(error)) from None


class PromQLSource(_HttpSource):
    """Asks a Prometheus-compatible HTTP API for named instant queries (`/api/v1/query`)."""

    def __init__(
        self,
        source_id: str,
        base_url: str,
        queries: Mapping[str, str],
        *,
        timeout: float,
        max_bytes: int = MAX_BYTES,
        headers: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
        allowed_hosts: Sequence[str] | None = None,
    ) -> None:
        super().__init__(
            source_id,
            base_url.rstrip("/") + "/api/v1/query",
            timeout=timeout,
            max_bytes=max_bytes,
            headers=headers,
            client=client,
            allowed_hosts=allowed_hosts,
        )
        self._queries = dict(queries)

    def read(self, now: dt.datetime) -> Scrape | ScrapeFailure:
        """Run every query at `now`; one failing query fails the read (no partial data)."""
        return self._read(now, lambda deadline: self._query_all(now, deadline))

    def _query_all(self, now: dt.datetime, deadline: float) -> tuple[Sample, ...]:
        samples: list[Sample] = []
        for name, query in self._queries.items():
            params = {"query": query, "time": f"{now.timestamp():.3f}"}
            status, _, body = self._get(
                self._url, deadline, params=params, accept="application/json"
            )
            samples += query_samples(name, status, body)
        return tuple(samples)


def build_source(
    config: SourceConfig, allowed_hosts: list[str], environ: Mapping[str, str]
) -> MetricSource:
    """Build the reader of one source."""
    headers = headers_from_env(config.headers_env, environ)
    if config.type == "prometheus_query":
        return PromQLSource(
            config.id,
            config.url,
            dict(config.queries),
            timeout=config.timeout,
            max_bytes=config.max_bytes,
            headers=headers,
            allowed_hosts=allowed_hosts,
        )
    return ExpositionSource(
        config.id,
        config.url,
        timeout=config.timeout,
        max_bytes=config.max_bytes,
        headers=headers,
        allowed_hosts=allowed_hosts,
    )
