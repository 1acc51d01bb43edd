"""Journal bench: what one state change and one budget check cost, SQLite vs PostgreSQL, as the journal grows.

`python bench/run.py --journal [--sizes 10000,100000] [--samples 300]`. For each store and size: the
journal is filled with that many requests (spread over 30 days, one in 30 made today, most of them done,
three events each), then timed one at a time:

  state change   ``update`` of one entry's state (queued -> running -> completed -> done, with the
                 request id / result / files the glue writes), each a committed transaction
  budget check   ``spent_since(today)``: the SUM the spend limits read before every paid run
  guarded create ``create_guarded`` with a budget: the check + reservation in one transaction
  lookups        ``latest_for_identity`` and ``get_by_request_id`` (what a re-queue and Result-by-ID read)

SQLite: a file under bench/out/ (WAL, synchronous=FULL). PostgreSQL: a throwaway cluster under
.testhost/pg/bench (tools/pgcluster.py, default durability: fsync on), over loopback TCP through the
store's pool. Prints median and p95 per operation; target: every median <= 5 ms at 100k. Writes only
bench/out/journal.md and the files it measures.
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from nodes.journal import states  # noqa: E402
from nodes.journal.store import Budget, NewEntry, SqlJournal  # noqa: E402

OUT = HERE / "out"
TARGET_MS = 5.0
DAY = 86400.0
_COLS = ("identity", "endpoint_id", "state", "request_id", "seed", "payload", "inputs", "output_kind", "stem",
         "price_usd", "price_source", "node_id", "node_name", "prompt_id", "owner", "created_at", "updated_at",
         "submitted_at", "finished_at", "result", "files", "timings", "message")


def _rows(count: int, now: float) -> list[tuple[Any, ...]]:
    """``count`` journaled requests like the pack writes them (payload, result and files as JSON text)."""
    rnd = random.Random(19)
    rows = []
    for n in range(count):
        created = now - rnd.random() * 30 * DAY
        state = states.DONE if rnd.random() < 0.9 else rnd.choice(states.FINAL)
        payload = json.dumps({"prompt": f"a cat number {n} walks through the rain", "resolution": "1080p",
                              "duration": "5s", "image_url": "upload://0"})
        result = json.dumps({"video": {"url": f"https://v3.fal.media/files/x/{n}.mp4", "content_type": "video/mp4"}})
        files = json.dumps({"video": [f"/output/luma-fal/ray32_{n:06d}.mp4"]})
        rows.append((f"identity-{n:08d}", "luma/agent/ray/v3.2/image-to-video", state, f"req-{n:08d}", n,
                     payload, "{}", "video", "ray32", 1.2, "prices.json", "3", "Luma Ray 3.2 (fal)", f"p-{n}",
                     "bench/1/1", created, created + 60, created + 1, created + 60, result, files,
                     json.dumps({"queue_seconds": 1.0}), None))
    return rows


def _fill(store: SqlJournal, count: int) -> None:
    rows = _rows(count, time.time())
    marks = ", ".join("?" for _ in _COLS)

    def insert(cur: Any) -> None:
        if store.dialect == "postgresql":  # COPY: a 100k-row fill in seconds
            with cur.copy(f"COPY journal_entries ({', '.join(_COLS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute("INSERT INTO journal_events (entry_id, at, state, note) SELECT id, created_at, s, NULL "
                        "FROM journal_entries, (VALUES ('preparing'), ('queued'), ('done')) AS v(s)")
        else:
            cur.executemany(f"INSERT INTO journal_entries ({', '.join(_COLS)}) VALUES ({marks})", rows)
            cur.execute("INSERT INTO journal_events (entry_id, at, state, note) SELECT id, created_at, s.column1, "
                        "NULL FROM journal_entries, (VALUES ('preparing'), ('queued'), ('done')) AS s")

    store._run(insert)
    if store.dialect == "postgresql":  # what autovacuum does to a table that has lived a while
        conn = store._pool.take()  # type: ignore[attr-defined]
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE journal_entries")
        conn.close()


def _timed(op: Callable[[], Any], samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        op()
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def _stats(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"median": statistics.median(ordered), "p95": ordered[int(len(ordered) * 0.95) - 1]}


def measure(store: SqlJournal, size: int, samples: int) -> dict[str, dict[str, float]]:
    _fill(store, size)
    rnd = random.Random(7)
    budget = Budget(since=time.time() - DAY / 2, limit_usd=1e9)
    made: list[int] = []

    def create() -> None:
        n = len(made)
        new = NewEntry(identity=f"bench-new-{n}", endpoint_id="luma/agent/ray/v3.2/text-to-video",
                       payload={"prompt": f"bench {n}"}, inputs={}, output_kind="video", stem="t",
                       node_name="bench", owner="bench/2/2", price_usd=1.2, prompt_id=f"bp-{n}")
        created = store.create_guarded(new, after_id=None, budget=budget)
        assert created.entry is not None
        made.append(created.entry.id)

    out = {"guarded create": _stats(_timed(create, samples))}
    steps = iter([(i, s) for i in made for s in (states.QUEUED, states.RUNNING, states.COMPLETED, states.DONE)])

    def change() -> None:
        entry_id, state = next(steps)
        extra: dict[str, Any] = {
            states.QUEUED: {"request_id": f"bench-req-{entry_id}", "submitted_at": time.time()},
            states.RUNNING: {},
            states.COMPLETED: {"result": {"video": {"url": "https://v3.fal.media/x.mp4"}}},
            states.DONE: {"files": {"video": [f"/out/{entry_id}.mp4"]}, "finished_at": time.time()},
        }[state]
        store.update(entry_id, state=state, **extra)

    out["state change"] = _stats(_timed(change, samples * 4))
    out["budget check"] = _stats(_timed(lambda: store.spent_since(time.time() - DAY / 2), samples))
    out["identity lookup"] = _stats(_timed(
        lambda: store.latest_for_identity(f"identity-{rnd.randrange(size):08d}"), samples))
    out["request-id lookup"] = _stats(_timed(lambda: store.get_by_request_id(f"req-{rnd.randrange(size):08d}"),
                                             samples))
    return out


def _sqlite(size: int) -> SqlJournal:
    from nodes.journal.sqlite import SqliteJournal

    path = OUT / "journal-bench" / f"journal-{size}.sqlite3"
    shutil.rmtree(path.parent, ignore_errors=True)
    return SqliteJournal(path)


def fsync_ms(samples: int = 50) -> dict[str, float]:
    """One fsync of this disk (what every durable commit waits for at least once): the floor of a state change."""
    import os

    OUT.mkdir(parents=True, exist_ok=True)
    probe = OUT / "fsync-probe"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT)
    times = []
    try:
        for _ in range(samples):
            os.write(fd, b"x" * 4096)
            start = time.perf_counter()
            os.fsync(fd)
            times.append((time.perf_counter() - start) * 1000.0)
    finally:
        os.close(fd)
        probe.unlink()
    return _stats(times)


def run_journal_bench(line: Callable[[str, str], None], sizes: list[int], samples: int) -> int:
    from nodes.journal.postgres import PostgresJournal
    from tools.pgcluster import PgCluster

    floor = fsync_ms()
    line("disk fsync (floor of any durable commit)", f"median {floor['median']:.2f} ms, p95 {floor['p95']:.2f} ms")
    results: dict[str, dict[int, dict[str, dict[str, float]]]] = {"sqlite": {}, "postgresql": {}}
    cluster = PgCluster.create("bench")
    try:
        for size in sizes:
            sqlite = _sqlite(size)
            results["sqlite"][size] = measure(sqlite, size, samples)
            pg = PostgresJournal(cluster.new_database(f"bench_{size}"))
            try:
                results["postgresql"][size] = measure(pg, size, samples)
            finally:
                pg.close()
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)
    rows = ["| store | journaled | operation | median ms | p95 ms |", "|---|---:|---|---:|---:|"]
    worst = 0.0
    for store_name, by_size in results.items():
        for size, ops in by_size.items():
            for op, st in ops.items():
                line(f"{store_name} {size} {op}", f"median {st['median']:.2f} ms, p95 {st['p95']:.2f} ms")
                rows.append(f"| {store_name} | {size} | {op} | {st['median']:.2f} | {st['p95']:.2f} |")
                if size == max(sizes):
                    worst = max(worst, st["median"])
    for size in sizes:
        for op in ("state change", "budget check"):
            ratio = results["postgresql"][size][op]["median"] / results["sqlite"][size][op]["median"]
            line(f"postgresql/sqlite {size} {op}", f"{ratio:.2f}x")
    verdict = "met" if worst <= TARGET_MS else "MISSED"
    line(f"target every median <= {TARGET_MS:g} ms at {max(sizes)}", f"{verdict} (worst {worst:.2f} ms)")
    rows.append(f"\ndisk fsync: median {floor['median']:.2f} ms, p95 {floor['p95']:.2f} ms")
    (OUT / "journal.md").write_text("\n".join(rows) + f"\n\nTarget (median <= {TARGET_MS:g} ms at {max(sizes)}): "
                                    f"{verdict}, worst median {worst:.2f} ms\n")
    shutil.rmtree(OUT / "journal-bench", ignore_errors=True)
    return 0 if worst <= TARGET_MS else 1
