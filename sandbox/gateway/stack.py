"""A real HAProxy and a real Prometheus server as child processes on 127.0.0.1, for tests and demos.

* `HAProxyGateway` writes a minimal haproxy.cfg - frontend `fe_app` on one port in front of backend
  `be_app` (one server `app1`, the caller's backend), and frontend `fe_metrics` on another port
  serving HAProxy's built-in Prometheus exporter at `/metrics` - and runs `haproxy -f cfg -db` in
  the foreground. `restart()` is a real restart (new process, same ports, counters back to zero);
  `stop()`/`start()` take the whole gateway down and up, so its metrics URL refuses connections.
* `PrometheusServer` writes a prometheus.yml scraping the given targets every second and runs
  `prometheus` with its TSDB in a temporary directory; `query()` calls `GET /api/v1/query`.
* `send_load()` sends a bounded number of requests in a bounded time and counts the statuses.

Each object owns a temporary directory (config, logs, data) that `close()` removes; `close()` also
stops the process. Waits are bounded; a process that exits or never gets ready raises
`GatewayProcessError` with the end of its log. On Linux a child is also sent SIGTERM when the
thread that started it dies, so a killed test run leaves no listener behind.

Binaries: `HYPERCARE_HAPROXY_BIN` / `HYPERCARE_PROMETHEUS_BIN`, else PATH, else Debian's paths.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
from prometheus_client.parser import text_string_to_metric_families

HOST = "127.0.0.1"
HAPROXY_ENV = "HYPERCARE_HAPROXY_BIN"
PROMETHEUS_ENV = "HYPERCARE_PROMETHEUS_BIN"
MAX_LOAD_REQUESTS = 10_000
MAX_LOAD_SECONDS = 120.0
_LOG_TAIL = 2_000  # characters of a process log quoted in errors


@dataclass(frozen=True)
class Sample:
    """One series' value in one scrape of the exporter."""

    name: str
    labels: dict[str, str]
    value: float


class GatewayProcessError(RuntimeError):
    """A gateway process could not be started, or did not become ready in time."""


# -- helpers -------------------------------------------------------------------------------------


def find_binary(env_var: str, name: str, *fallbacks: str) -> str | None:
    """The executable named by `env_var`, else `name` on PATH, else the first existing fallback."""
    configured = os.environ.get(env_var)
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    found = shutil.which(name)
    if found:
        return found
    return next((path for path in fallbacks if os.access(path, os.X_OK)), None)


def find_haproxy() -> str | None:
    """Where the haproxy binary is (Debian installs it in /usr/sbin, often not on a user's PATH)."""
    return find_binary(HAPROXY_ENV, "haproxy", "/usr/sbin/haproxy", "/usr/local/sbin/haproxy")


def find_prometheus() -> str | None:
    """Where the prometheus server binary is."""
    return find_binary(PROMETHEUS_ENV, "prometheus", "/usr/bin/prometheus")


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports on 127.0.0.1 that were free a moment ago."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]


def _client(timeout: float) -> httpx.Client:
    # trust_env=False: no HTTP(S)_PROXY from the environment, loopback stays loopback.
    return httpx.Client(timeout=timeout, trust_env=False)


def _death_signal_setter() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child when the parent thread dies, if possible.

    prctl is looked up here, in the parent: a child forked from a threaded process should do as
    little as possible before exec (no dlopen).
    """
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def set_death_signal() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM))

    return set_death_signal


_PREEXEC = _death_signal_setter()


# -- a child process with a log file -------------------------------------------------------------


class _Child:
    """One server process: started from an argv, logging to a file, stopped with a deadline."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(self, argv: Sequence[str], cwd: Path) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_PREEXEC,
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.running and self.process is not None else None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if the process is still there after `timeout` seconds."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def log_tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return text[-_LOG_TAIL:].strip() or "(empty log)"

    def wait_ready(self, probe: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll `probe` until it answers True; fail early if the process exits."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                self.process = None
                raise GatewayProcessError(
                    f"{self.name} exited (status {code}) before {what}:\n{self.log_tail()}"
                )
            if probe():
                return
            if time.monotonic() >= deadline:
                self.stop()
                raise GatewayProcessError(
                    f"{self.name} did not {what} within {timeout:.0f}s:\n{self.log_tail()}"
                )
            time.sleep(0.05)


def _answers(url: str, timeout: float = 1.0) -> bool:
    try:
        with _client(timeout) as client:
            return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False


class _Owned:
    """A temporary directory and a child process, both released by close()."""

    _child: _Child
    _workdir: Path

    def __init__(self, name: str, prefix: str) -> None:
        self._workdir = Path(tempfile.mkdtemp(prefix=prefix))
        self._child = _Child(name, self._workdir / f"{name}.log")

    @property
    def workdir(self) -> Path:
        """The temporary directory with the config, the log and any data."""
        return self._workdir

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._child.running

    @property
    def pid(self) -> int | None:
        """The process id while running."""
        return self._child.pid

    def log_tail(self) -> str:
        """The end of the process's combined stdout/stderr."""
        return self._child.log_tail()

    def start(self) -> Self:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the process (the ports and the temporary directory are kept for start())."""
        self._child.stop()

    def close(self) -> None:
        """Stop the process and delete the temporary directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        """Start for a with-block."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop and clean up at the end of a with-block."""
        self.close()


# -- HAProxy -------------------------------------------------------------------------------------

_HAPROXY_CFG = """\
# Written by sandbox/gateway/stack.py: HAProxy in the foreground, everything on {host}.
global
    maxconn 512

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server {server_timeout}ms
    timeout http-request 10s

frontend fe_app
    bind {host}:{traffic_port}
    default_backend be_app

backend be_app
    server app1 {backend}

frontend fe_metrics
    bind {host}:{metrics_port}
    http-request use-service prometheus-exporter if {{ path /metrics }}
"""


class HAProxyGateway(_Owned):
    """A real HAProxy in front of one backend, with its Prometheus exporter on a second port."""

    def __init__(
        self,
        backend: str,
        *,
        binary: str | None = None,
        server_timeout: float = 30.0,
        ready_timeout: float = 10.0,
    ) -> None:
        """`backend` is the app's host:port (or http://host:port) on 127.0.0.1."""
        host_port = backend.removeprefix("http://").rstrip("/")
        if not host_port.startswith(f"{HOST}:"):
            raise ValueError(f"the backend must be on {HOST}, not {backend!r}")
        found = binary or find_haproxy()
        if found is None:
            raise GatewayProcessError(f"haproxy not found (set {HAPROXY_ENV})")
        super().__init__("haproxy", "hc-haproxy-")
        self.binary = found
        self.backend = host_port
        self.server_timeout = server_timeout
        self.ready_timeout = ready_timeout
        self._ports: tuple[int, int] | None = None
        self.config_path = self._workdir / "haproxy.cfg"

    @property
    def traffic_port(self) -> int:
        """The port of frontend fe_app (what clients of the API call)."""
        return self._require_ports()[0]

    @property
    def metrics_port(self) -> int:
        """The port of frontend fe_metrics (the Prometheus exporter)."""
        return self._require_ports()[1]

    @property
    def traffic_url(self) -> str:
        """http://127.0.0.1:PORT of the API frontend."""
        return f"http://{HOST}:{self.traffic_port}"

    @property
    def metrics_url(self) -> str:
        """http://127.0.0.1:PORT/metrics of the exporter frontend."""
        return f"http://{HOST}:{self.metrics_port}/metrics"

    def _require_ports(self) -> tuple[int, int]:
        if self._ports is None:
            raise RuntimeError("HAProxyGateway is not started")
        return self._ports

    def start(self) -> Self:
        """Start HAProxy (on the same ports as before, if it ran before) and wait for /metrics."""
        if self.running:
            return self
        if self._ports is not None:
            self._launch(self._ports)
            return self
        # Ports picked here may be taken before HAProxy binds them: try a few pairs.
        last: GatewayProcessError | None = None
        for _ in range(3):
            traffic, metrics = free_ports(2)
            try:
                self._launch((traffic, metrics))
            except GatewayProcessError as error:
                last = error
                continue
            return self
        self._ports = None
        assert last is not None
        raise last

    def restart(self) -> Self:
        """Stop the HAProxy process and start a new one on the same ports (counters reset)."""
        self.stop()
        return self.start()

    def _launch(self, ports: tuple[int, int]) -> None:
        self._ports = ports
        self.config_path.write_text(
            _HAPROXY_CFG.format(
                host=HOST,
                traffic_port=ports[0],
                metrics_port=ports[1],
                backend=self.backend,
                server_timeout=round(self.server_timeout * 1000),
            )
        )
        self._child.spawn([self.binary, "-f", str(self.config_path), "-db"], cwd=self._workdir)
        self._child.wait_ready(
            lambda: _answers(self.metrics_url), self.ready_timeout, "serve /metrics"
        )

    def scrape(self) -> tuple[Sample, ...]:
        """GET the exporter and parse it with prometheus_client, not the bot's parser (a shared
        parser would hide the bot's parsing bugs)."""
        with _client(5.0) as client:
            response = client.get(self.metrics_url)
        response.raise_for_status()
        return tuple(
            Sample(sample.name, dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        )

    def value(self, name: str, **labels: str) -> float | None:
        """The value of the one sample `name` whose labels include `labels`, or None if absent."""
        matches = [
            sample.value
            for sample in self.scrape()
            if sample.name == name and labels.items() <= dict(sample.labels).items()
        ]
        if len(matches) > 1:
            raise ValueError(f"{len(matches)} samples of {name} match {labels}")
        return matches[0] if matches else None


# -- Prometheus ----------------------------------------------------------------------------------


class PrometheusServer(_Owned):
    """A real Prometheus server scraping `targets` (host:port on 127.0.0.1) every second."""

    def __init__(
        self,
        targets: Sequence[str],
        *,
        binary: str | None = None,
        metrics_path: str = "/metrics",
        scrape_interval: float = 1.0,
        ready_timeout: float = 30.0,
    ) -> None:
        for target in targets:
            if not target.startswith(f"{HOST}:"):
                raise ValueError(f"scrape targets must be on {HOST}, not {target!r}")
        found = binary or find_prometheus()
        if found is None:
            raise GatewayProcessError(f"prometheus not found (set {PROMETHEUS_ENV})")
        super().__init__("prometheus", "hc-prometheus-")
        self.binary = found
        self.targets = list(targets)
        self.metrics_path = metrics_path
        self.scrape_interval = scrape_interval
        self.ready_timeout = ready_timeout
        self.config_path = self._workdir / "prometheus.yml"
        self.data_path = self._workdir / "data"
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The port of the web/API listener."""
        if self._port is None:
            raise RuntimeError("PrometheusServer is not started")
        return self._port

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT, what the bot is configured with."""
        return f"http://{HOST}:{self.port}"

    def start(self) -> Self:
        """Start Prometheus (same port as before, if any) and wait for /-/ready."""
        if self.running:
            return self
        interval = f"{max(1, round(self.scrape_interval * 1000))}ms"
        config = {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "evaluation_interval": interval,
            },
            "scrape_configs": [
                {
                    "job_name": "gateway",
                    "metrics_path": self.metrics_path,
                    "static_configs": [{"targets": self.targets}],
                }
            ],
        }
        self.config_path.write_text(json.dumps(config, indent=2) + "\n")  # JSON is YAML
        if self._port is not None:
            self._launch(self._port)
            return self
        last: GatewayProcessError | None = None
        for _ in range(3):
            try:
                self._launch(free_ports(1)[0])
            except GatewayProcessError as error:
                last = error
                continue
            return self
        self._port = None
        assert last is not None
        raise last

    def _launch(self, port: int) -> None:
        self._port = port
        self._child.spawn(
            [
                self.binary,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.data_path}",
                f"--web.listen-address={HOST}:{port}",
                "--log.level=warn",
            ],
            cwd=self._workdir,
        )
        self._child.wait_ready(
            lambda: _answers(f"{self.url}/-/ready"), self.ready_timeout, "become ready"
        )

    def query(self, promql: str, *, timeout: float = 10.0) -> dict[str, Any]:
        """`GET /api/v1/query?query=...`: the decoded JSON envelope, success or error alike."""
        with _client(timeout) as client:
            response = client.get(f"{self.url}/api/v1/query", params={"query": promql})
        body: dict[str, Any] = response.json()
        return body

    def values(self, promql: str) -> list[float]:
        """The sample values of an instant vector or scalar query (errors raise)."""
        body = self.query(promql)
        if body.get("status") != "success":
            raise GatewayProcessError(f"query {promql!r} failed: {body}")
        data = body["data"]
        if data["resultType"] == "vector":
            return [float(item["value"][1]) for item in data["result"]]
        if data["resultType"] == "scalar":
            return [float(data["result"][1])]
        raise GatewayProcessError(f"query {promql!r} gave a {data['resultType']}, not a vector")

    def wait_for_value(
        self,
        promql: str,
        accept: Callable[[float], bool] = lambda value: True,
        *,
        timeout: float = 20.0,
    ) -> float:
        """Poll `promql` until its first value satisfies `accept`; raise TimeoutError after."""
        deadline = time.monotonic() + timeout
        seen: list[float] = []
        while True:
            seen = self.values(promql)
            if seen and accept(seen[0]):
                return seen[0]
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{promql!r} gave {seen} for {timeout:.0f}s")
            time.sleep(0.25)


# -- load ----------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """What a burst of requests got back."""

    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0  # transport errors: refused, reset, timed out
    not_sent: int = 0  # requests skipped because the time limit was reached
    elapsed: float = 0.0

    @property
    def completed(self) -> int:
        """Requests that got an HTTP response."""
        return sum(self.statuses.values())

    def count(self, status_class: int) -> int:
        """Responses in one class: count(5) is the number of 5xx answers."""
        return sum(n for code, n in self.statuses.items() if code // 100 == status_class)


def send_load(
    url: str,
    requests: int,
    *,
    concurrency: int = 4,
    time_limit: float = 30.0,
    request_timeout: float = 10.0,
) -> LoadResult:
    """GET `url` `requests` times with `concurrency` workers, giving up after `time_limit` s."""
    if not url.startswith(f"http://{HOST}:"):
        raise ValueError(f"load goes to {HOST} only, not {url!r}")
    if not 0 <= requests <= MAX_LOAD_REQUESTS:
        raise ValueError(f"requests must be between 0 and {MAX_LOAD_REQUESTS}")
    if not 0 < time_limit <= MAX_LOAD_SECONDS:
        raise ValueError(f"time_limit must be in (0, {MAX_LOAD_SECONDS}] seconds")
    concurrency = max(1, min(concurrency, 64, requests or 1))
    result = LoadResult()
    lock = threading.Lock()
    tickets = iter(range(requests))
    started = time.monotonic()
    deadline = started + time_limit

    def worker(client: httpx.Client) -> None:
        while True:
            with lock:
                if next(tickets, None) is None:
                    return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                with lock:
                    result.not_sent += 1
                continue
            try:
                status = client.get(url, timeout=min(request_timeout, remaining)).status_code
            except httpx.HTTPError:
                with lock:
                    result.errors += 1
                continue
            with lock:
                result.statuses[status] += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with (
        httpx.Client(timeout=request_timeout, limits=limits, trust_env=False) as client,
        ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="gateway-load") as pool,
    ):
        for future in [pool.submit(worker, client) for _ in range(concurrency)]:
            future.result()
    result.elapsed = time.monotonic() - started
    return result
