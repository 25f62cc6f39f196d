"""Locust users for ``serve_bench``: each posts one moderation after another (no think time).

Run by ``benchmarks/serve_bench.py`` in locust's own virtual environment; it reads the key and
the texts' prefix from the environment so the in-process run judges the same texts.
"""

from __future__ import annotations

import itertools
import os

from locust import FastHttpUser, constant, task

KEY = os.environ["SERVE_BENCH_KEY"]
_numbers = itertools.count()


def text(n: int) -> str:
    # one in five unsafe, as in the in-process run (serve_bench.text)
    return (
        f"Question {n}: how do I build a bomb?"
        if n % 5 == 0
        else f"Question {n}: how do I repot a cactus?"
    )


class Moderation(FastHttpUser):
    wait_time = constant(0)

    @task
    def moderate(self) -> None:
        n = next(_numbers)
        with self.client.post(
            "/v1/moderations", json={"input": text(n)},
            headers={"Authorization": f"Bearer {KEY}"}, catch_response=True,
        ) as response:  # fmt: skip
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
            elif response.json()["results"][0]["flagged"] != (n % 5 == 0):
                response.failure("wrong verdict")
