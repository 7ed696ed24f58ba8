"""The Slack Web API client: slack_sdk's WebClient over one pool of kept-alive connections.

slack_sdk's synchronous client opens a new connection for every call (urllib, no keep-alive):
in a burst (a thousand page mentions, a hundred forms opened in a minute) that is a TCP (and on
the real Slack a TLS) handshake per call. `PooledWebClient` keeps everything of WebClient — its
methods, argument handling, retry handlers and errors — and swaps only the one method that
moves bytes, so calls share urllib3's connection pool (the one `requests` uses: kept-alive,
thread-safe; a call finding every kept connection busy opens another rather than queueing, and
at most `POOL_SIZE` idle ones are kept). httpx's sync pool was tried first: with more threads
than connections it can close a connection already handed to a waiting request (a ReadError
mid-call), which a burst of pages reproduces readily.
"""

from __future__ import annotations

import http.client
import io
import urllib.error
from typing import Any
from urllib.request import Request

import urllib3
from slack_sdk import WebClient
from slack_sdk.errors import SlackRequestError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from urllib3.exceptions import HTTPError as TransportError
from urllib3.exceptions import TimeoutError as TransportTimeout

# Connections kept to one Slack host: the outbox pool, the after-ack pool and the listeners
# together rarely have more calls in flight than this.
POOL_SIZE = 32


class PooledWebClient(WebClient):
    """WebClient whose calls share one pool of kept-alive HTTP connections."""

    def __init__(self, *args: Any, pool_size: int = POOL_SIZE, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.proxy:
            self._http: urllib3.PoolManager = urllib3.ProxyManager(
                self.proxy, maxsize=pool_size, ssl_context=self.ssl
            )
        else:
            self._http = urllib3.PoolManager(maxsize=pool_size, ssl_context=self.ssl)

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        """Send one prepared request over the pool, answering as urllib would.

        WebClient's retry loop and error handling expect urllib's shapes: a dict with the status,
        headers and body for a 2xx, `HTTPError` for any other status, and `URLError` for a
        connection that failed, so those keep working unchanged (429 with Retry-After included).
        """
        if not url.lower().startswith("http"):
            raise SlackRequestError(f"Invalid URL detected: {url}")
        body = req.data  # WebClient always encodes the body to bytes before this
        if body is not None and not isinstance(body, bytes):
            raise SlackRequestError(f"unsupported request body: {type(body).__name__}")
        try:
            response = self._http.request(
                "POST",
                url,
                body=body,
                headers=dict(req.header_items()),
                timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout),
                retries=False,  # WebClient's retry handlers decide, as they do with urllib
                redirect=False,
            )
        except TransportTimeout as exc:
            raise urllib.error.URLError(TimeoutError(str(exc) or "timed out")) from exc
        except TransportError as exc:
            raise urllib.error.URLError(ConnectionError(str(exc) or type(exc).__name__)) from exc
        if not 200 <= response.status < 300:
            message = http.client.HTTPMessage()  # HTTPError's headers, as urllib gives them
            for name, value in response.headers.items():
                message[name] = value
            raise urllib.error.HTTPError(
                url, response.status, response.reason or "", message, io.BytesIO(response.data)
            )
        # A success's headers are only read as a mapping (WebClient copies them with dict());
        # building an email.message.Message of them, as urllib does, was a fifth of a call's CPU.
        headers = dict(response.headers.items())
        kind, charset = _content_type(response.headers.get("Content-Type", ""))
        if kind == "application/gzip":
            return {"status": response.status, "headers": headers, "body": response.data}
        text = response.data.decode(charset or "utf-8")
        return {"status": response.status, "headers": headers, "body": text}

    def close(self) -> None:
        """Close the pooled connections (a later call opens a new one)."""
        self._http.clear()


def _content_type(value: str) -> tuple[str, str | None]:
    """A Content-Type header's media type (lower case) and its charset parameter, if any."""
    kind, *parameters = value.split(";")
    charset = None
    for parameter in parameters:
        name, _, given = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = given.strip().strip('"') or None
    return kind.strip().lower(), charset


def make_client(token: str, base_url: str) -> PooledWebClient:
    """Build the Web API client with retries for dropped connections and rate limits."""
    return PooledWebClient(
        token=token,
        base_url=base_url,
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=1),
            RateLimitErrorRetryHandler(max_retry_count=1),
        ],
    )
