"""Rehearsal traffic: reference rows replayed through the target's client address while a rollout
runs, so a rehearsal on a CI runner has real requests to judge. Bounded: it stops with the block."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from ..monitoring.headers import SYNTHETIC_HEADER


@contextmanager
def replaying(url: str, rows: list[dict], rate: float = 50.0, clients: int = 4) -> Iterator[Counter]:
    """POST one row at a time to `url`/predict at about `rate` requests/s until the block ends.

    Yields a Counter of HTTP status codes (and "error" for connection failures): what clients saw.
    """
    seen: Counter = Counter()
    stop = threading.Event()
    lock = threading.Lock()

    def client(offset: int) -> None:
        pause, i = clients / rate, offset
        # Reference rows, not clients' requests: kept out of the request log CT reads.
        with httpx.Client(base_url=url, timeout=10, headers={SYNTHETIC_HEADER: "replay"}) as http:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    status = http.post("/predict", json={"rows": [rows[i % len(rows)]]}).status_code
                except httpx.HTTPError:
                    status = "error"
                with lock:
                    seen[status] += 1
                i += clients
                stop.wait(max(0.0, pause - (time.monotonic() - started)))

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield seen
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
