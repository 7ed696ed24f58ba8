"""On SQLite the process's one connection goes to threads answering Slack before background
work that asked for it earlier (storage.db's foreground-first pool)."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from storage.db import in_foreground, make_engine
from tests.support import wait_until


def test_a_foreground_thread_gets_the_connection_before_background_ones_queued_earlier(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    queue = engine.pool._pool  # type: ignore[attr-defined]
    order: list[str] = []
    lock = threading.Lock()

    def use(name: str, foreground: bool) -> None:
        if foreground:
            with in_foreground(), engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                with lock:
                    order.append(name)
        else:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                with lock:
                    order.append(name)

    try:
        held = engine.connect()  # the one connection: everyone below has to wait
        threads = []
        for name in ("outbox-1", "outbox-2"):
            threads.append(threading.Thread(target=use, args=(name, False)))
            threads[-1].start()
        wait_until(lambda: queue.waiting == 2, timeout=5)
        threads.append(threading.Thread(target=use, args=("listener", True)))
        threads[-1].start()
        wait_until(lambda: queue.waiting == 3, timeout=5)
        held.close()
        for thread in threads:
            thread.join(timeout=10)
        assert order[0] == "listener"
        assert sorted(order[1:]) == ["outbox-1", "outbox-2"]
    finally:
        engine.dispose()


def test_background_threads_still_get_the_connection_when_no_foreground_one_waits(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    done: list[int] = []

    def use(n: int) -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        done.append(n)

    try:
        threads = [threading.Thread(target=use, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert sorted(done) == list(range(8))
        with in_foreground(), engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
