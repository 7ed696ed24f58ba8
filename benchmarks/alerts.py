"""Gateway alerts: what one scrape of a large Kong exposition costs, and how soon a failure alerts.

Part 1 serves a generated Kong 3.x exposition (~100,000 samples) on 127.0.0.1 and times, in the
same run, prometheus_client's parser alone (the floor), `parse_exposition`, `ExpositionSource.read`
(HTTP fetch + parse) and that read followed by `evaluate` of two per-service rules. Part 2 runs the
real bot (`build_runtime`, its own scheduler polling every second) against the Slack emulator and
a gateway whose backend starts failing at a known time, and measures the time to the alert
message. Everything runs in one process on 127.0.0.1. Run it with:

    .venv/bin/python benchmarks/alerts.py [--series 100000] [--repeat 5] [--trials 5] [--json FILE]
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import math
import random
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client.parser import text_string_to_metric_families

from bot.alerts.engine.exposition import parse_exposition
from bot.alerts.engine.model import Scrape
from bot.alerts.engine.presets import KONG
from bot.alerts.engine.rules import ErrorRateQuery, HistogramLatencyQuery, Rule, evaluate
from bot.app.build import Runtime, build_runtime
from bot.config import Program
from bot.integrations.prometheus import MAX_BYTES, ExpositionSource
from sandbox.slack import RecordedCall, SlackEmulator

from _harness import (
    FEEDBACK,
    HOST,
    TEMPORARY,
    add_output_options,
    bot_settings,
    database,
    machine,
    machine_line,
    median,
    parser,
    positive_int,
    quiet_logging,
    slack_emulator,
    time_ms,
    write_json,
)

T = TypeVar("T")

ALERTS = "C0ALERTS"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SEED = 20261116
MIB = 1024 * 1024

# -- part 1: the exposition ----------------------------------------------------------------------
ROUTES_PER_SERVICE = 8
CODES = ("200", "201", "204", "301", "304", "400", "401", "403", "404", "409", "429")
CODES_5XX = ("500", "502", "503", "504")
# Kong 3.x's default `latency_metrics` buckets, in ms (Kong docs' example exposition).
BUCKETS = (25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000, 30000, 60000)
NODE_ID = "849373c5-45c1-4c1d-b595-fdeaea6daed8"
SCRAPE_GAP_S = 15.0  # between the two scrapes of the history
RULE_WINDOW = dt.timedelta(minutes=1)
READ_TIMEOUT = 30.0  # generous, so the timings are never cut short
DEFAULT_TIMEOUT = 5.0  # SourceConfig.timeout's default
EPOCH = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)

# -- part 2: the failing backend -------------------------------------------------------------------
INTERVAL_S = 1
TIMEOUT_S = 0.5
WINDOW_S = 10
THRESHOLD = 0.05
ERROR_SHARE = 0.5
REQUESTS_PER_S = 1000.0
ALERT_TIMEOUT_S = 30.0
RESOLVE_TIMEOUT_S = 60.0

PROGRAM: dict[str, Any] = {
    "name": "Alerts benchmark",
    "go_live": "2026-11-16",
    "channels": {"feedback": FEEDBACK, "alerts": ALERTS},
    "severities": [{"id": "sev1", "label": "Critical", "emoji": ":red_circle:"}],
    "categories": [{"id": "bug", "label": "Bug / defect"}],
    "components": [{"id": "payments-api", "label": "Payments API"}],
    "environments": [{"id": "production", "label": "Production"}],
}


@dataclass(frozen=True)
class Options:
    """The command-line options."""

    series: int
    repeat: int
    trials: int
    json_path: Path | None


# -- memory ----------------------------------------------------------------------------------------


def traced(work: Callable[[], T]) -> tuple[float, float, T]:
    """Run `work` under tracemalloc; return its peak and what it left allocated (MiB), and it."""
    tracemalloc.start()
    try:
        result = work()
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / MIB, kept / MIB, result


# -- a metrics endpoint on 127.0.0.1 -------------------------------------------------------------


class Endpoint:
    """A `/metrics` endpoint on 127.0.0.1 serving what `body()` gives, noting when it is read."""

    def __init__(self, body: Callable[[], bytes]) -> None:
        self._body = body
        self._lock = threading.Lock()
        self._reads: list[float] = []
        self._server = ThreadingHTTPServer((HOST, 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="endpoint"
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # as nginx (Kong) does; else the last segment may wait

            def do_GET(self) -> None:  # name fixed by the stdlib
                data = owner.serve()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(ConnectionError):  # a reader over its cap hangs up
                    self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def serve(self) -> bytes:
        """Note the read (wall clock, as the Slack emulator's) and build the body."""
        with self._lock:
            self._reads.append(time.time())
        return self._body()

    @property
    def reads(self) -> list[float]:
        """When each GET arrived (time.time())."""
        with self._lock:
            return list(self._reads)

    @property
    def url(self) -> str:
        """The endpoint's URL."""
        return f"http://{HOST}:{self._server.server_address[1]}/metrics"

    def __enter__(self) -> Endpoint:
        """Start serving."""
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# -- part 1: a large Kong exposition -------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One Kong route's traffic: its counters' shares by code and its latency profile."""

    service: str
    route: str
    shares: dict[str, float]
    requests: int  # at the first scrape
    per_second: float
    mean_ms: float


@dataclass
class Exposition:
    """The generated gateway: its routes and the two bodies a history of two scrapes reads."""

    routes: list[Route]
    older: bytes = b""
    newer: bytes = b""
    samples: int = 0

    @property
    def services(self) -> int:
        """How many distinct services the routes belong to."""
        return len({r.service for r in self.routes})


def plan_routes(series: int, rng: random.Random) -> list[Route]:
    """Routes with a varied set of status codes, until they expose about `series` samples."""
    per_histogram = len(BUCKETS) + 3  # the buckets, +Inf, _count and _sum
    routes: list[Route] = []
    total = sum(not line.startswith("#") for line in node_lines())
    while total < series:
        number = len(routes)
        service = f"service-{number // ROUTES_PER_SERVICE:04d}"
        codes = ["200", *rng.sample(CODES[1:], rng.randint(2, 6))]
        codes += rng.sample(CODES_5XX, rng.randint(0, 2))
        weights = {code: (50.0 if code == "200" else rng.uniform(0.05, 2.0)) for code in codes}
        whole = sum(weights.values())
        routes.append(
            Route(
                service=service,
                route=f"{service}.route-{number % ROUTES_PER_SERVICE}",
                shares={code: weight / whole for code, weight in weights.items()},
                requests=rng.randint(10_000, 5_000_000),
                per_second=rng.uniform(0.5, 200.0),
                mean_ms=rng.uniform(10.0, 180.0),
            )
        )
        total += len(codes) + per_histogram
    return routes


def node_lines() -> list[str]:
    """The node-wide gauges every Kong exposition starts its histogram-free part with."""
    return [
        "# HELP kong_datastore_reachable Datastore reachable from Kong, 0 is unreachable",
        "# TYPE kong_datastore_reachable gauge",
        "kong_datastore_reachable 1",
        "# HELP kong_nginx_connections_total Number of connections by subsystem",
        "# TYPE kong_nginx_connections_total gauge",
        *(
            f'kong_nginx_connections_total{{node_id="{NODE_ID}",subsystem="http",state="{s}"}} 296'
            for s in ("accepted", "active", "handled", "reading", "total", "waiting", "writing")
        ),
    ]


def counter_lines(routes: list[Route], seconds: float) -> list[str]:
    """`kong_http_requests_total`, one series per route and code, `seconds` after the first."""
    lines = [
        "# HELP kong_http_requests_total HTTP status codes per consumer/service/route in Kong",
        "# TYPE kong_http_requests_total counter",
    ]
    for r in routes:
        total = r.requests + r.per_second * seconds
        for code, share in r.shares.items():
            lines.append(
                f'kong_http_requests_total{{service="{r.service}",route="{r.route}",code="{code}",'
                f'source="service",workspace="default",consumer=""}} {int(total * share)}'
            )
    return lines


def histogram_lines(routes: list[Route], seconds: float) -> list[str]:
    """`kong_request_latency_ms` per route: buckets, then every _count, then every _sum."""
    name = KONG.latency.metric if KONG.latency else "kong_request_latency_ms"
    lines = [
        f"# HELP {name} Total latency incurred during requests for each service/route in Kong",
        f"# TYPE {name} histogram",
    ]
    counts, sums = [], []
    for r in routes:
        n = int(r.requests + r.per_second * seconds)
        labels = f'service="{r.service}",route="{r.route}",workspace="default"'
        for bound in BUCKETS:
            below = int(n * (1 - math.exp(-bound / r.mean_ms)))
            lines.append(f'{name}_bucket{{{labels},le="{bound}"}} {below}')
        lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {n}')
        counts.append(f"{name}_count{{{labels}}} {n}")
        sums.append(f"{name}_sum{{{labels}}} {int(n * r.mean_ms)}")
    return lines + counts + sums


def kong_body(routes: list[Route], seconds: float) -> bytes:
    """The whole exposition as Kong 3.x writes it, `seconds` after the first scrape."""
    lines = counter_lines(routes, seconds) + node_lines() + histogram_lines(routes, seconds)
    return ("\n".join(lines) + "\n").encode()


def build_exposition(series: int) -> Exposition:
    """Generate the gateway and both bodies; count the samples the first one holds."""
    exposition = Exposition(plan_routes(series, random.Random(SEED)))
    exposition.older = kong_body(exposition.routes, 0.0)
    exposition.newer = kong_body(exposition.routes, SCRAPE_GAP_S)
    exposition.samples = sum(
        1 for line in exposition.older.splitlines() if line and not line.startswith(b"#")
    )
    return exposition


def rules() -> list[Rule]:
    """An error-rate rule and a p95 latency rule, both per service, as build_rule makes them."""
    assert KONG.latency is not None
    error_rate = ErrorRateQuery(
        metric=KONG.requests,
        status_label=KONG.status_label,
        window=RULE_WINDOW,
        scope_labels=("service",),
    )
    latency = HistogramLatencyQuery(
        histogram=KONG.latency.metric,
        unit_seconds=KONG.latency.unit_seconds,
        quantile=0.95,
        window=RULE_WINDOW,
        scope_labels=("service",),
    )
    return [
        Rule(id="kong-5xx", query=error_rate, threshold=THRESHOLD),
        Rule(id="kong-p95", query=latency, threshold=500.0),
    ]


def consume(text: str) -> int:
    """The floor: prometheus_client's parser alone, generator fully consumed; count samples."""
    return sum(len(family.samples) for family in text_string_to_metric_families(text))


STEPS = {
    "floor": "floor: prometheus_client parse only",
    "parse": "parse_exposition",
    "read": "ExpositionSource.read (HTTP fetch + parse)",
    "poll": "read + evaluate (5xx rate, p95; per service)",
    "evaluate": "  of which evaluate (2 rules, 2 scrapes)",
}


@dataclass
class ScrapeRun:
    """Part 1's timings (ms per repetition), memory and checks."""

    services: int
    routes: int
    samples: int
    body_bytes: int
    times_ms: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in STEPS})
    peak_mib: dict[str, float] = field(default_factory=dict)
    kept_mib: float = math.nan
    scopes: dict[str, tuple[int, int]] = field(default_factory=dict)  # rule -> (scopes, breaching)
    default_read: str = ""
    problems: list[str] = field(default_factory=list)

    def median_ms(self, step: str) -> float:
        """The median time of a step."""
        return median(self.times_ms[step])


def one_repetition(
    run: ScrapeRun, exposition: Exposition, source: ExpositionSource, earlier: Scrape
) -> None:
    """Time each step once, in the same order every time; keep the figures of the last one."""
    text = exposition.newer.decode()
    now = earlier.at + dt.timedelta(seconds=SCRAPE_GAP_S)
    ms, count = time_ms(lambda: consume(text))
    run.times_ms["floor"].append(ms)
    if count != run.samples:
        run.problems.append(f"prometheus_client gave {count} samples, not {run.samples}")
    ms, parsed = time_ms(lambda: parse_exposition(exposition.newer, CONTENT_TYPE))
    run.times_ms["parse"].append(ms)
    if len(parsed) != run.samples:
        run.problems.append(f"parse_exposition gave {len(parsed)} samples, not {run.samples}")
    del parsed  # each step starts with the same objects alive: the earlier scrape
    checked = rules()
    start = time.perf_counter()
    scrape = source.read(now)
    fetched = time.perf_counter()
    values = {}
    if isinstance(scrape, Scrape):
        values = {rule.id: evaluate(rule, [earlier, scrape], now) for rule in checked}
    else:
        run.problems.append(f"read failed: {scrape.kind.value} ({scrape.detail})")
    end = time.perf_counter()
    run.times_ms["read"].append((fetched - start) * 1000)
    run.times_ms["poll"].append((end - start) * 1000)
    run.times_ms["evaluate"].append((end - fetched) * 1000)
    for rule in checked:
        found = values.get(rule.id) or {}
        run.scopes[rule.id] = (len(found), sum(rule.breaches(v) for v in found.values()))


def measure_memory(run: ScrapeRun, exposition: Exposition) -> None:
    """Peak memory of one floor parse and one parse_exposition; what the parsed scrape keeps."""
    text = exposition.newer.decode()
    run.peak_mib["floor"], _, _ = traced(lambda: consume(text))
    run.peak_mib["parse"], run.kept_mib, _ = traced(
        lambda: parse_exposition(exposition.newer, CONTENT_TYPE)
    )


def default_read(url: str, now: dt.datetime) -> str:
    """What a source as build_source makes it (default cap and timeout) gets from this body."""
    source = ExpositionSource("kong", url, timeout=DEFAULT_TIMEOUT, allowed_hosts=[HOST])
    try:
        result = source.read(now)
    finally:
        source.close()
    if isinstance(result, Scrape):
        return f"ok ({len(result.samples)} samples)"
    return f"{result.kind.value}: {result.detail}"


def measure_scrape(options: Options) -> ScrapeRun:
    """Part 1: serve the exposition, warm up once, then time `--repeat` repetitions."""
    exposition = build_exposition(options.series)
    run = ScrapeRun(
        exposition.services, len(exposition.routes), exposition.samples, len(exposition.newer)
    )
    earlier = Scrape("kong", EPOCH, parse_exposition(exposition.older, CONTENT_TYPE))
    with Endpoint(lambda: exposition.newer) as endpoint:
        source = ExpositionSource(
            "kong",
            endpoint.url,
            timeout=READ_TIMEOUT,
            max_bytes=2 * len(exposition.newer),
            allowed_hosts=[HOST],
        )
        try:
            one_repetition(run, exposition, source, earlier)  # warm-up
            run.times_ms = {k: [] for k in STEPS}
            for _ in range(options.repeat):
                one_repetition(run, exposition, source, earlier)
        finally:
            source.close()
        run.default_read = default_read(endpoint.url, earlier.at)
    measure_memory(run, exposition)
    return run


# -- part 2: a failing backend and the real bot --------------------------------------------------


class FailingBackend:
    """Kong's counters for one route, growing with the wall clock; `fail()` turns half into 5xx."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._start = time.time()
        self._failing: list[tuple[float, float | None]] = []  # (from, until) wall-clock spans

    def fail(self) -> float:
        """Start failing now; return the wall-clock time T."""
        with self._lock:
            at = time.time()
            self._failing.append((at, None))
            return at

    def recover(self) -> float:
        """Stop failing now; return the time."""
        with self._lock:
            at = time.time()
            began, _ = self._failing[-1]
            self._failing[-1] = (began, at)
            return at

    def body(self) -> bytes:
        """The exposition now: all requests so far, ERROR_SHARE of them 5xx while failing."""
        with self._lock:
            now = time.time()
            failed = sum(min(until or now, now) - began for began, until in self._failing)
        errors = int(REQUESTS_PER_S * ERROR_SHARE * failed)
        ok = int(REQUESTS_PER_S * (now - self._start)) - errors
        lines = ["# TYPE kong_http_requests_total counter"]
        for code, count in (("200", ok), ("500", errors)):
            lines.append(
                f'kong_http_requests_total{{service="checkout",route="pay",code="{code}",'
                f'source="service",workspace="default",consumer=""}} {count}'
            )
        return ("\n".join(lines) + "\n").encode()


def alerting_program(url: str) -> Program:
    """The bot's program: one Kong source polled every second and a 5xx rule with `for: 0`."""
    metrics = {
        "allowed_hosts": [HOST],
        "sources": [
            {"id": "gw", "url": url, "preset": "kong", "interval": INTERVAL_S, "timeout": TIMEOUT_S}
        ],
        "rules": [
            {
                "id": "checkout-5xx",
                "source": "gw",
                "kind": "error_rate",
                "threshold": THRESHOLD,
                "window": WINDOW_S,
                "for": 0,
                "severity": "sev1",
            }
        ],
    }
    return Program.model_validate({**PROGRAM, "metrics": metrics})


@contextlib.contextmanager
def running_bot(slack: SlackEmulator, url: str) -> Iterator[Runtime]:
    """The real bot in HTTP mode on a temporary SQLite file, its scheduler polling `url`."""
    with database(None, "alerts") as database_url:
        settings = bot_settings(slack.base_url, database_url)
        runtime = build_runtime(settings, alerting_program(url)).start()
        try:
            yield runtime
        finally:
            runtime.stop()


def alert_posts(slack: SlackEmulator) -> list[RecordedCall]:
    """Top-level messages the bot posted in the alerts channel."""
    return [
        c
        for c in slack.calls_to("chat.postMessage")
        if c.args.get("channel") == ALERTS and not c.args.get("thread_ts") and c.status == 200
    ]


def alert_updates(slack: SlackEmulator) -> list[RecordedCall]:
    """In-place updates of alert messages (here, always a resolution)."""
    return [
        c
        for c in slack.calls_to("chat.update")
        if c.args.get("channel") == ALERTS and c.status == 200
    ]


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    """Poll `check` every 10 ms until it holds or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@dataclass(frozen=True)
class Trial:
    """One failure: T to the alert, T to the scrape that decided it, that scrape to the post."""

    alert_s: float
    detect_s: float
    hop_ms: float


@dataclass
class AlertRun:
    """Part 2's trials, the poll gaps the endpoint saw, and anything that went wrong."""

    trials: list[Trial] = field(default_factory=list)
    poll_gaps_s: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def settle(slack: SlackEmulator, endpoint: Endpoint, healthy_since: float, resolved: int) -> bool:
    """Wait for `resolved` resolutions and a whole window of healthy polls; then a random phase."""
    if not wait_until(lambda: len(alert_updates(slack)) >= resolved, RESOLVE_TIMEOUT_S):
        return False
    if not wait_until(lambda: bool(endpoint.reads), RESOLVE_TIMEOUT_S):
        return False
    clean = max(healthy_since, endpoint.reads[0]) + WINDOW_S + INTERVAL_S
    time.sleep(max(0.0, clean - time.time()) + random.uniform(0.0, INTERVAL_S))
    return True


def one_trial(slack: SlackEmulator, endpoint: Endpoint, backend: FailingBackend) -> Trial | None:
    """Start the errors at T and wait for the next alert message; None when none came."""
    before = len(alert_posts(slack))
    failed_at = backend.fail()
    came = wait_until(lambda: len(alert_posts(slack)) > before, ALERT_TIMEOUT_S)
    if not came:
        return None
    posted = alert_posts(slack)[before].at
    deciding = max((t for t in endpoint.reads if t <= posted), default=failed_at)
    return Trial(posted - failed_at, deciding - failed_at, (posted - deciding) * 1000)


def measure_alerts(options: Options) -> AlertRun:
    """Part 2: the real bot reading a backend that fails `--trials` times."""
    run = AlertRun()
    backend = FailingBackend()
    channels = {FEEDBACK: "hypercare-feedback", ALERTS: "hypercare-alerts"}
    with (
        slack_emulator(channels, users={}) as slack,
        Endpoint(backend.body) as endpoint,
        running_bot(slack, endpoint.url),
    ):
        healthy_since = time.time()
        for number in range(options.trials):
            if not settle(slack, endpoint, healthy_since, resolved=number):
                run.problems.append(f"trial {number + 1}: the previous alert never resolved")
                break
            trial = one_trial(slack, endpoint, backend)
            healthy_since = backend.recover()
            if trial is None:
                run.problems.append(f"trial {number + 1}: no alert within {ALERT_TIMEOUT_S:.0f}s")
                break
            run.trials.append(trial)
        reads = endpoint.reads
    run.poll_gaps_s = [b - a for a, b in itertools.pairwise(reads)]
    return run


# -- output --------------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    """What the figures depend on."""
    return {
        **machine(),
        "prometheus_client": version("prometheus-client"),
        "httpx": version("httpx"),
        "apscheduler": version("apscheduler"),
        "database": f"sqlite{TEMPORARY}",
    }


def scrape_table(run: ScrapeRun) -> str:
    """Part 1's table: median, min and max per step, the ratio to the floor, peak memory."""
    head = f"{'step':<46}{'median ms':>10}{'min ms':>9}{'max ms':>9}{'x floor':>9}{'peak MiB':>10}"
    lines = [head, "-" * len(head)]
    floor = run.median_ms("floor")
    for step, label in STEPS.items():
        times = run.times_ms[step]
        peak = run.peak_mib.get(step)
        lines.append(
            f"{label:<46}{median(times):>10.1f}{min(times):>9.1f}{max(times):>9.1f}"
            f"{median(times) / floor:>8.2f}x{'' if peak is None else f'{peak:.1f}':>10}".rstrip()
        )
    return "\n".join(lines)


def alert_table(run: AlertRun) -> str:
    """Part 2's table: min, median and max, and the median in poll intervals."""
    rows = [
        ("T -> alert chat.postMessage (s)", [t.alert_s for t in run.trials], 1.0),
        ("T -> the scrape that fired it (s)", [t.detect_s for t in run.trials], 1.0),
        ("that scrape -> chat.postMessage (ms)", [t.hop_ms for t in run.trials], 1000.0),
        ("gap between polls (s)", run.poll_gaps_s, 1.0),
    ]
    head = f"{'':<40}{'min':>9}{'median':>9}{'max':>9}{'intervals':>11}"
    lines = [head, "-" * len(head)]
    for label, values, per_second in rows:
        if not values:
            lines.append(f"{label:<40}{'n/a':>9}")
            continue
        in_intervals = median(values) / per_second / INTERVAL_S
        lines.append(
            f"{label:<40}{min(values):>9.3f}{median(values):>9.3f}{max(values):>9.3f}"
            f"{in_intervals:>10.2f}x"
        )
    return "\n".join(lines)


def report(env: dict[str, Any], scrape: ScrapeRun, alerts: AlertRun, options: Options) -> None:
    """Print the environment, both tables and the notes."""
    print("Hypercare Bot gateway alerts: scrape cost and failure-to-alert time, 127.0.0.1")
    print(
        f"{machine_line(env)} | prometheus-client {env['prometheus_client']} | "
        f"httpx {env['httpx']} | APScheduler {env['apscheduler']} | database {env['database']}"
    )
    print(
        f"\n1. One scrape of a Kong 3.x exposition: {scrape.samples:,} samples "
        f"({scrape.routes:,} routes in {scrape.services:,} services; per route 3-9 codes and "
        f"{len(BUCKETS) + 1} latency buckets),\n   {scrape.body_bytes / MIB:.1f} MiB of text "
        f"served over HTTP/1.0; median of {options.repeat} runs after one warm-up; "
        "peak = tracemalloc, one run\n"
    )
    print(scrape_table(scrape))
    print(
        f"\nparsed samples kept in memory: {scrape.kept_mib:.1f} MiB per scrape "
        f"(a 5 min window at a 30 s interval keeps 11: ~{11 * scrape.kept_mib:.0f} MiB)"
    )
    scopes = "; ".join(f"{r} {n} scopes, {bad} breaching" for r, (n, bad) in scrape.scopes.items())
    print(f"evaluate gave: {scopes}")
    print(
        f"this body read with the bot's defaults ({MAX_BYTES / MIB:.0f} MiB cap, "
        f"{DEFAULT_TIMEOUT:g} s timeout): {scrape.default_read}; the cap holds about "
        f"{MAX_BYTES * scrape.samples // scrape.body_bytes:,} samples of this shape"
    )
    print(
        f"\n2. Backend fails at T ({ERROR_SHARE:.0%} 5xx) -> first alert message; real bot, "
        f"real clock; source interval {INTERVAL_S} s\n   (timeout {TIMEOUT_S} s), error_rate "
        f"rule: window {WINDOW_S} s, for 0, threshold {THRESHOLD}; {len(alerts.trials)} trials; "
        f"{REQUESTS_PER_S:.0f} req/s\n"
    )
    print(alert_table(alerts))
    for problem in scrape.problems + alerts.problems:
        print(f"WARNING: {problem}")


def figures(env: dict[str, Any], scrape: ScrapeRun, alerts: AlertRun) -> dict[str, Any]:
    """The figures, for --json."""
    floor = scrape.median_ms("floor")
    return {
        "environment": env,
        "scrape": {
            "samples": scrape.samples,
            "routes": scrape.routes,
            "services": scrape.services,
            "body_bytes": scrape.body_bytes,
            "steps": {
                step: {
                    "median_ms": round(scrape.median_ms(step), 3),
                    "runs_ms": [round(t, 3) for t in scrape.times_ms[step]],
                    "x_floor": round(scrape.median_ms(step) / floor, 3),
                }
                for step in STEPS
            },
            "peak_mib": {k: round(v, 2) for k, v in scrape.peak_mib.items()},
            "kept_mib": round(scrape.kept_mib, 2),
            "default_read": scrape.default_read,
            "problems": scrape.problems,
        },
        "alerts": {
            "interval_s": INTERVAL_S,
            "trials": [vars(t) for t in alerts.trials],
            "poll_gaps_s": [round(g, 4) for g in alerts.poll_gaps_s],
            "problems": alerts.problems,
        },
    }


# -- entry point ---------------------------------------------------------------------------------


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Read the command line."""
    cli = parser(__doc__)
    cli.add_argument("--series", type=positive_int, default=100_000, help="samples (100000)")
    cli.add_argument("--repeat", type=positive_int, default=5, help="timed runs per step (5)")
    cli.add_argument("--trials", type=positive_int, default=5, help="backend failures (5)")
    add_output_options(cli)
    args = cli.parse_args(argv)
    return Options(args.series, args.repeat, args.trials, args.json_path)


def main(argv: Sequence[str] | None = None) -> None:
    """Run both parts and print the tables."""
    options = parse_options(argv)
    quiet_logging()
    random.seed(SEED)
    scrape = measure_scrape(options)
    alerts = measure_alerts(options)
    env = environment()
    report(env, scrape, alerts, options)
    if options.json_path is not None:
        write_json(options.json_path, figures(env, scrape, alerts))


if __name__ == "__main__":
    main()
