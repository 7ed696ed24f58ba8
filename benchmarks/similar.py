"""Similar reports: how well the lookup tells the same problem apart, and what a lookup costs.

Quality: the labelled pairs of tests/data/similar_pairs.jsonl go through the real lookup on
SQLite and on PostgreSQL (every pair's `a` stored, each `b` looked up; a pair is matched when
its `a` is shown at or above the threshold), and the script prints precision, recall and F1 at
the program's threshold for the whole set, the half the weights were tuned on and the held-out
half, then a table over thresholds.

Latency: synthetic reports (a payments go-live's vocabulary: components, endpoints, symptoms,
a fifth open or lately resolved) are stored 10k then 100k at a time, and the script times the
lookup (database candidates, then the re-rank) for reports typed anew, beside a floor measured
in the same run: the bare text query of the same words (FTS5 MATCH by bm25 on SQLite, the
tsvector match by ts_rank on PostgreSQL), no filter, no join, no re-rank. Run it with:

    .venv/bin/python benchmarks/similar.py [--sizes 10000,100000] [--queries 300]
        [--postgres-url URL | --no-postgres] [--json FILE]

Without --postgres-url it starts a throwaway PostgreSQL on 127.0.0.1 (tests/provision.py).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, text
from sqlalchemy.engine import make_url

from bot.config import load_program
from bot.feedback.lookup import SimilarReports
from bot.feedback.program import SimilarProgram
from storage import db
from storage.models import FeedbackRow
from storage.similar import fts5_match, search_terms, tsquery
from tests.feedback import similar_pairs as labelled

from _harness import (
    EXAMPLE_PROGRAM,
    add_output_options,
    machine,
    machine_line,
    parser,
    percentile,
    positive_int,
    sqlite_files,
    throwaway_postgres,
    write_json,
)

NOW = labelled.NOW
SPAN = dt.timedelta(days=120)
BATCH = 10_000
THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)

# A go-live's reports, piece by piece: what broke, where, how it showed, for whom.
COMPONENTS = {
    "payments-api": ["payments", "refunds", "payouts", "orders", "captures", "webhooks"],
    "checkout-ui": ["checkout", "cart", "payment-methods", "addresses", "vouchers"],
    "api-gateway": ["routes", "tokens", "limits", "health"],
    "identity": ["sessions", "users", "mfa", "password-resets", "sso"],
    "reporting": ["reports", "exports", "invoices", "statements", "dashboards"],
}
THINGS = [
    "refund",
    "payout",
    "capture",
    "invoice",
    "statement",
    "export",
    "login",
    "session",
    "checkout page",
    "cart",
    "voucher",
    "card payment",
    "SEPA debit",
    "PayPal payment",
    "webhook",
    "settlement report",
    "dashboard",
    "MFA code",
    "password reset",
    "address form",
    "currency conversion",
    "tax calculation",
    "order status",
    "receipt email",
    "API token",
    "rate limit",
    "search",
    "CSV download",
    "PDF",
    "merchant onboarding",
    "chargeback",
    "3DS challenge",
    "Apple Pay button",
    "saved card",
    "subscription renewal",
    "retry queue",
]
SYMPTOMS = [
    "fails with 500",
    "times out",
    "returns 502",
    "returns 404",
    "is very slow",
    "hangs",
    "shows a blank page",
    "shows the wrong amount",
    "is missing",
    "is duplicated",
    "never arrives",
    "returns 401",
    "rejected with 429",
    "stuck in pending",
    "shows an error",
    "is rounded wrong",
    "does not load",
    "is not saved",
    "crashes the app",
    "loses the entered data",
    "sends two emails",
    "shows raw HTML",
    "uses the wrong locale",
]
CONTEXTS = [
    "",
    "",
    "",
    "on Safari",
    "on mobile",
    "for EUR orders",
    "after the deploy",
    "since this morning",
    "for some merchants",
    "in production",
    "for large orders",
    "after SSO login",
    "on retry",
    "for partial refunds",
    "at month end",
    "in UAT",
]
DETAILS = [
    "Customers reported it to support.",
    "It started after the 10:00 release.",
    "Retrying does not help.",
    "Happens about one time in five.",
    "We see it in the logs too.",
    "The console shows a TypeError.",
    "The response body is empty.",
    "Correlation id attached in the thread.",
    "Affects all merchants we checked.",
    "Only with the new API version.",
    "Workaround: refresh the page.",
    "The gateway log shows upstream timeouts.",
    "Amounts differ by a few cents.",
    "It worked in UAT last week.",
    "The spinner keeps going.",
    "Nothing in the audit log.",
]


# -- synthetic reports -------------------------------------------------------------------------


def synthetic(rng: random.Random) -> dict[str, str]:
    """One report a go-live might get: a summary, what happened, a component, an endpoint."""
    component = rng.choice(list(COMPONENTS))
    thing, symptom, context = rng.choice(THINGS), rng.choice(SYMPTOMS), rng.choice(CONTEXTS)
    resource = rng.choice(COMPONENTS[component])
    endpoint = ""
    if rng.random() < 0.6:
        method = rng.choice(["GET", "POST", "POST", "PUT", "DELETE"])
        tail = rng.choice(["", f"/{rng.randrange(1, 10**6)}", f"/{rng.randrange(1, 10**6)}/status"])
        endpoint = f"{method} /v{rng.choice([1, 1, 2])}/{resource}{tail}"
    summary = " ".join(part for part in (thing.capitalize(), symptom, context) if part)
    happened = " ".join(
        [f"The {thing} {symptom} {context}.".replace(" .", "."), *rng.sample(DETAILS, 2)]
    )
    return {"summary": summary, "happened": happened, "component": component, "endpoint": endpoint}


def seed(engine: Engine, start: int, size: int, rng: random.Random) -> None:
    """Store reports `start`+1 … `size`: created over 120 days, most resolved within days."""
    number = start
    while number < size:
        rows = []
        for n in range(number + 1, min(number + BATCH, size) + 1):
            report = synthetic(rng)
            created = NOW - SPAN * rng.random()
            resolved: dt.datetime | None = created + dt.timedelta(days=rng.expovariate(1 / 5))
            if resolved is not None and (resolved >= NOW or rng.random() < 0.03):
                resolved = None
            rows.append(
                {
                    "id": n,
                    "submission_key": f"bench-{n}",
                    "summary": report["summary"],
                    "category": "bug",
                    "severity": rng.choice(["sev1", "sev2", "sev3", "sev3", "sev4"]),
                    "component": report["component"],
                    "environment": "production",
                    "trying": "",
                    "expected": "",
                    "actual": report["happened"],
                    "api_endpoint": report["endpoint"] or None,
                    "channel_id": "C0FEEDBACK",
                    "reporter_id": "U0ALICE",
                    "state": "resolved" if resolved else "new",
                    "created_at": created,
                    "updated_at": resolved or created,
                    "resolved_at": resolved,
                    "ticket_key": f"HYP-{n}" if rng.random() < 0.3 else None,
                }
            )
        with engine.begin() as conn:
            conn.execute(insert(FeedbackRow), rows)
        number += len(rows)
    if engine.dialect.name == "postgresql":  # as autovacuum would, after a load
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE feedback"))


# -- latency -----------------------------------------------------------------------------------

_FLOOR_SQLITE = text(
    "SELECT rowid FROM feedback_fts WHERE feedback_fts MATCH :match "
    "ORDER BY bm25(feedback_fts) LIMIT :limit"
)
_FLOOR_POSTGRES = text(
    "SELECT f.id FROM feedback AS f, to_tsquery('english', :match) AS q(query) "
    "WHERE f.search_vector @@ q.query ORDER BY ts_rank(f.search_vector, q.query) DESC "
    "LIMIT :limit"
)


def floor_ms(engine: Engine, report: dict[str, str], limit: int) -> float:
    """One bare text query of the report's words, in ms (the same words the lookup asks for)."""
    from bot.domain import SimilarQuery

    terms = search_terms(SimilarQuery(report["summary"], report["happened"]))
    postgres = engine.dialect.name == "postgresql"
    statement = _FLOOR_POSTGRES if postgres else _FLOOR_SQLITE
    match = tsquery(terms) if postgres else fts5_match(terms)
    with engine.connect() as conn:
        start = time.perf_counter()
        conn.execute(statement, {"match": match, "limit": limit}).all()
        return (time.perf_counter() - start) * 1000


def latency(engine: Engine, program: SimilarProgram, queries: int, rng: random.Random) -> dict:
    """p50/p99 of the lookup and of the floor, over `queries` reports typed anew."""
    lookup = SimilarReports(db.make_sessions(engine), program, lambda: NOW)
    reports = [synthetic(rng) for _ in range(queries)]
    for report in reports[:10]:  # warm the caches, as a running bot's are
        lookup.find(report["summary"], report["happened"], report["component"])
    looks, floors = [], []
    for report in reports:
        start = time.perf_counter()
        lookup.find(report["summary"], report["happened"], report["component"], report["endpoint"])
        looks.append((time.perf_counter() - start) * 1000)
        floors.append(floor_ms(engine, report, program.candidates))
    return {
        "lookup_p50_ms": round(percentile(looks, 50), 2),
        "lookup_p99_ms": round(percentile(looks, 99), 2),
        "floor_p50_ms": round(percentile(floors, 50), 2),
        "floor_p99_ms": round(percentile(floors, 99), 2),
    }


# -- quality -----------------------------------------------------------------------------------


def quality(url: str, program: SimilarProgram, path: Path) -> dict[str, Any]:
    """Counts at every threshold, for the whole set and each half, on one database."""
    engine = db.make_engine(url)
    db.migrate(engine)
    sessions = db.make_sessions(engine)
    pairs = labelled.load_pairs(path)
    ids = labelled.store(sessions, pairs)
    found = labelled.lookups(sessions, pairs, ids, program.candidates)
    engine.dispose()
    tuning, held_out = labelled.halves(pairs)
    sets = {"whole": pairs, "tuning half": tuning, "held-out half": held_out}
    out: dict[str, Any] = {"pairs": len(pairs), "same": sum(p.same for p in pairs)}
    for name, members in sets.items():
        chosen = {p.id for p in members}
        subset = [lookup for lookup in found if lookup.pair.id in chosen]
        out[name] = {
            f"{t:.2f}": vars(labelled.counts(subset, program, t))
            for t in sorted({*THRESHOLDS, program.threshold})
        }
    return out


def _prf(counts: dict[str, int]) -> tuple[float, float, float]:
    c = labelled.Counts(**counts)
    return c.precision, c.recall, c.f1


def print_quality(name: str, figures: dict[str, Any], threshold: float) -> None:
    """Precision, recall and F1 at the threshold for each set, then over thresholds."""
    print(f"\n{name}: {figures['pairs']} labelled pairs ({figures['same']} the same problem)")
    print(f"  at threshold {threshold:.2f}:")
    for subset in ("whole", "tuning half", "held-out half"):
        p, r, f = _prf(figures[subset][f"{threshold:.2f}"])
        print(f"    {subset:<14} precision {p:.3f}  recall {r:.3f}  F1 {f:.3f}")
    halves = ("whole", "tuning half", "held-out half")
    print(f"  {'threshold':>11}" + "".join(f"{h:>26}" for h in halves))
    print(f"  {'':>11}" + "   precision recall     F1" * len(halves))
    for key in figures["whole"]:
        cells = "".join("{:>12.3f}{:>7.3f}{:>7.3f}".format(*_prf(figures[h][key])) for h in halves)
        mark = "  <- configured" if float(key) == threshold else ""
        print(f"  {key:>11}{cells}{mark}")


# -- running -----------------------------------------------------------------------------------


@contextlib.contextmanager
def backends(postgres_url: str | None, with_postgres: bool) -> Iterator[list[tuple[str, str]]]:
    """(name, URL) of each database to measure: a temporary SQLite file, then PostgreSQL."""
    with contextlib.ExitStack() as stack:
        files = stack.enter_context(sqlite_files("hc-bench-similar-"))
        chosen = [("SQLite", files("quality")), ("SQLite", files("latency"))]
        if with_postgres:
            url = postgres_url or stack.enter_context(throwaway_postgres())
            chosen += [("PostgreSQL", url), ("PostgreSQL", url)]
        yield chosen


def empty(url: str) -> None:
    """Drop every table of a PostgreSQL database between the quality and the latency runs."""
    if make_url(url).get_backend_name() != "postgresql":
        return
    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure quality and latency on each database; print as it goes."""
    program = load_program(EXAMPLE_PROGRAM).similar
    results: dict[str, Any] = {"threshold": program.threshold, "databases": {}}
    with backends(args.postgres_url, not args.no_postgres) as chosen:
        for (name, quality_url), (_, latency_url) in zip(chosen[::2], chosen[1::2], strict=True):
            empty(quality_url)
            figures: dict[str, Any] = {
                "quality": quality(quality_url, program, args.pairs),
                "latency": {},
            }
            print_quality(name, figures["quality"], program.threshold)
            empty(latency_url)
            engine = db.make_engine(latency_url)
            db.migrate(engine)
            rng, seeded = random.Random(20261206), 0
            for size in args.sizes:
                start = time.perf_counter()
                seed(engine, seeded, size, rng)
                seeded = size
                cell = latency(engine, program, args.queries, rng)
                cell["seed_s"] = round(time.perf_counter() - start, 1)
                figures["latency"][str(size)] = cell
                print(
                    f"  {size:>9,} stored: lookup p50 {cell['lookup_p50_ms']:.1f} ms, "
                    f"p99 {cell['lookup_p99_ms']:.1f} ms | floor (bare text query) p50 "
                    f"{cell['floor_p50_ms']:.1f} ms, p99 {cell['floor_p99_ms']:.1f} ms",
                    flush=True,
                )
            engine.dispose()
            results["databases"][name] = figures
    return results


def _sizes(value: str) -> list[int]:
    sizes = [int(part) for part in value.split(",")]
    if any(size < 100 for size in sizes) or sizes != sorted(set(sizes)):
        raise argparse.ArgumentTypeError("give increasing sizes of at least 100, like 10000,100000")
    return sizes


def main(argv: Sequence[str] | None = None) -> None:
    """Measure and print."""
    cli = parser(__doc__)
    cli.add_argument("--sizes", type=_sizes, default=[10_000, 100_000])
    cli.add_argument("--queries", type=positive_int, default=300, help="lookups timed (300)")
    cli.add_argument("--postgres-url", help="an empty PostgreSQL database (default: throwaway)")
    cli.add_argument("--pairs", type=Path, default=labelled.PAIRS, help="labelled pairs (JSONL)")
    cli.add_argument("--no-postgres", action="store_true", help="SQLite only")
    add_output_options(cli)
    args = cli.parse_args(argv)
    env = machine()
    print(
        f"Hypercare Bot similar reports | {machine_line(env)} | {env['platform']} | "
        f"{args.queries} lookups per cell"
    )
    results = run(args)
    if args.json_path is not None:
        results["machine"] = env
        write_json(args.json_path, results)


if __name__ == "__main__":
    main()
