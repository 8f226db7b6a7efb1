"""Not a queue: one-row INSERT + COMMIT with psycopg and nothing else, the floor a single
enqueue in its own transaction stands on. Only the single-enqueue column is measured."""

from __future__ import annotations

from typing import ClassVar

from bench.peers.base import Peer


class BarePsycopg(Peer):
    name = "psycopg-bare"
    title = "bare psycopg INSERT + COMMIT (not a queue)"
    packages = ("psycopg",)
    apps = ()
    done_sql = "SELECT count(*) FROM bare_items"
    reset_sql = ("TRUNCATE bare_items",)
    enqueue_only = True
    notes: ClassVar[str] = (
        "psycopg.connect(); per row: INSERT INTO bare_items (queue_name, parameters, run_at, "
        "created_at) VALUES (...) and COMMIT; no Django"
    )

    def setup(self) -> None:
        super().setup()
        self._execute(
            "CREATE TABLE bare_items (id bigserial PRIMARY KEY, queue_name text NOT NULL, "
            "parameters jsonb NOT NULL, run_at timestamptz NOT NULL, "
            "created_at timestamptz NOT NULL)"
        )

    def single_enqueue(self, n: int) -> dict:  # type: ignore[type-arg]
        return self.driver("bare", str(n))
