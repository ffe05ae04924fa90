"""Client traffic for the deploy tests and benchmarks: keep-alive httpx clients POSTing rows to a
model address, each request's outcome counted as the client saw it. Bounded in time, loopback only.

    with Load("http://127.0.0.1:3000", rows) as load:   # runs until the block ends (at most `seconds`)
        ...
    load.seen      Counter of HTTP statuses (or exception names): {200: 812}
    load.failures  everything that was not a 200
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Self

import httpx


class Load:
    def __init__(self, url: str, rows: list[dict], clients: int = 4, seconds: float = 180, pause: float = 0.01):
        self.url, self.rows, self.seconds, self.pause = f"{url.rstrip('/')}/predict", rows, seconds, pause
        self.seen: Counter = Counter()
        self.answers: Counter = Counter()  # the predictions of each 200 answer, as JSON text
        self.latencies: list[float] = []  # seconds, of every answered request
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(clients)]

    def _client(self, offset: int) -> None:
        deadline, i = time.monotonic() + self.seconds, offset
        with httpx.Client(timeout=30) as http:
            while not self._stop.is_set() and time.monotonic() < deadline:
                self._count(http, self.rows[i % len(self.rows)])
                i += len(self._threads)
                self._stop.wait(self.pause)

    def _count(self, http: httpx.Client, row: dict) -> None:
        started = time.perf_counter()
        try:
            answer = http.post(self.url, json={"rows": [row]})
        except httpx.HTTPError as exc:
            with self._lock:
                self.seen[type(exc).__name__] += 1
            return
        with self._lock:
            self.seen[answer.status_code] += 1
            self.latencies.append(time.perf_counter() - started)
            if answer.is_success:
                self.answers[json.dumps(answer.json()["predictions"])] += 1

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def join(self) -> None:
        """Wait for the clients to reach their time bound."""
        for thread in self._threads:
            thread.join(timeout=self.seconds + 30)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.join()

    @property
    def failures(self) -> dict:
        return {status: n for status, n in self.seen.items() if status != 200}

    @property
    def total(self) -> int:
        return sum(self.seen.values())


def traffic(url: str, rows: list[dict], seconds: float, during=None, clients: int = 4) -> Counter:
    """Statuses of `seconds` of traffic to `url` (while `during()` runs, if given)."""
    with Load(url, rows, clients=clients, seconds=seconds) as load:
        if during:
            during()
        load.join()
    return load.seen
