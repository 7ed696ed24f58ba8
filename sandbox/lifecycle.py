"""The start/stop shape every loopback stand-in shares, and the with-block it gives."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Startable:
    """A server a test starts and stops; `with` does both."""

    def start(self) -> Self:
        """Start serving; return self so `X().start()` reads naturally."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving and release the port."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        """Start for a with-block."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop at the end of a with-block."""
        self.stop()
