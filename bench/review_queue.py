"""Task-queue latency: earmuff's next_task + submit against a bare SKIP LOCKED statement.

What it measures
    A scratch PostgreSQL database (created and dropped by the bench) is migrated and
    bulk-loaded with COPY: ``--items`` queued review items (default 1,000,000), each with
    its own sealed data key, 10 % of them overlap items with three tasks, 2 % in the
    safety pool, in three locales (en-US 70 %, en-GB 20 %, de-DE 10 %), created over the
    last 30 days. 200 of them are answered first through the real queue and made gold
    answers, so gold hand-outs (``gold_share`` of 5 %, the default policy) happen too.

    ``--reviewers`` reviewers (default 50: 10 in the safety pool, some bilingual) are
    spread over ``--processes`` processes (default 2, as ``earmuff serve --workers 2``
    spreads requests over the two cores), one thread per reviewer. Each reviewer loops:
    take the next task, work on it for a random time around a think time, submit it.
    Two systems run one after the other on the same data, with the same reviewers and
    the same loop:

    - earmuff: ``review.queue.next_task`` and ``review.queue.submit`` through the
      app's own ``Database``, every rule applied (one lease each, locales, overlap
      copies to different people, the safety pool and its cap, gold hand-outs and
      grading, the transcript sealed under the item's key, the item closed when its
      last task is done);
    - reference: one bare statement each, over a psycopg connection per reviewer,
      ``UPDATE review_tasks ... WHERE id = (SELECT id ... FOR UPDATE SKIP LOCKED
      LIMIT 1)`` to take and ``UPDATE ... SET status = 'done'`` to submit.

    Each system runs two phases: ``paced``, with a think time of ``--think-ms`` (1 s by
    default) for ``--seconds``, measures latency under a steady load; ``saturated``,
    with no think time for ``--capacity-seconds``, measures the most cycles per second
    the machine gives. Printed: next-task and submit p50/p99 latency, take-and-submit
    cycles per second, and earmuff's figures over the reference's. Target: earmuff's
    next-task p99 in the paced phase under 20 ms. Afterwards the queue is checked: no
    task done twice, no item done twice by one reviewer, no reviewer with two leases.

Why a think time
    Fifty reviewers who never pause are fifty requests always in flight on two cores,
    and latency is then fifty divided by the throughput, whatever the queue does. A
    real reviewer listens for tens of seconds per item; a 1 s think time is that
    compressed twenty- to fifty-fold, 50 take-and-submit cycles a second, far above a
    real team of fifty, while latency still says how long one request takes.

Caveat
    On a 2-core machine the reviewers' processes, PostgreSQL and whatever else runs
    share the cores; the load average at the start is printed, and other work on the
    machine shows in every figure. Compare runs made on a quiet machine.

Run it with ``.venv/bin/python bench/review_queue.py`` (PostgreSQL at ``--postgres``, default
``$EARMUFF_BENCH_POSTGRES_URL`` or ``postgresql://postgres@127.0.0.1:5432/postgres``). The
exit status is 1 if any cycle failed or the integrity check found a problem, 2 if the
scratch database could not be made.
"""

from __future__ import annotations

import sys
import sysconfig

# This file shares its name with the standard library's ``queue``, which psycopg imports;
# run as a script, its own folder comes first on the path. The standard library goes first.
sys.path.insert(0, sysconfig.get_paths()["stdlib"])

import argparse
import json
import multiprocessing as mp
import os
import random
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import psycopg
from sqlalchemy import select
from sqlalchemy.engine import make_url

from earmuff.config.policy import WorkbenchPolicy
from earmuff.review import queue
from earmuff.review.queue import Reviewer, Submission
from earmuff.store.crypto import KeyRing, MasterKey
from earmuff.store.db import Database
from earmuff.store.models import StaffUser
from earmuff.store.review_items import new_item_key

TARGET_P99_MS = 20.0
LOCALES = (("en-US", 0.7), ("en-GB", 0.2), ("de-DE", 0.1))
OVERLAP_SHARE, OVERLAP_K, SENSITIVE_SHARE = 0.1, 3, 0.02
GOLD_ITEMS = {"en-US": 140, "en-GB": 40, "de-DE": 20}
SAFETY_REVIEWERS = 10
SUBMISSION = Submission(
    "set a timer for ten minutes", intent="set_timer", slots={"duration": "ten minutes"}
)
POLICY = WorkbenchPolicy()

REFERENCE_TAKE = """
UPDATE review_tasks SET status = 'leased', lease_id = %(lease)s, lease_holder_id = %(who)s,
       lease_expires_at = now() + interval '10 minutes'
WHERE id = (SELECT id FROM review_tasks
            WHERE status = 'queued' AND pool = 'general' AND locale = %(locale)s
            ORDER BY available_at LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id
"""
REFERENCE_SUBMIT = """
UPDATE review_tasks SET status = 'done', completed_by_id = %(who)s, completed_at = now()
WHERE lease_id = %(lease)s AND lease_holder_id = %(who)s AND status = 'leased'
"""


@dataclass
class Tally:
    """One reviewer thread's measured figures."""

    take_ms: list[float] = field(default_factory=list)
    submit_ms: list[float] = field(default_factory=list)
    cycles: int = 0
    empty: int = 0
    failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Measurement:
    system: str
    phase: str
    think_ms: float
    cycles: int
    cycles_per_s: float
    take_p50_ms: float
    take_p99_ms: float
    submit_p50_ms: float
    submit_p99_ms: float
    empty_takes: int
    failures: list[str]


@dataclass(frozen=True)
class Window:
    """The measured interval, on the wall clock every process shares."""

    start: float
    measure_from: float
    end: float


def sqlalchemy_url(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def psycopg_url(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


class SetupFailed(Exception):
    """The scratch database could not be made."""


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A new database on the server, dropped afterwards, whatever happens; its URL."""
    name = f"earmuff_bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(psycopg_url(admin_url), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise SetupFailed(f"cannot create a scratch database at {admin_url}: {exc}") from exc
    try:
        yield (
            make_url(psycopg_url(admin_url))
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with psycopg.connect(psycopg_url(admin_url), autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def load(url: str, keyring: KeyRing, items: int, seed: int) -> None:
    """COPY ``items`` queued items and their tasks in, foreign-key triggers off."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    locales = [locale for locale, _ in LOCALES]
    weights = [share for _, share in LOCALES]
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        rebuild = drop_secondary_indexes(cur, ("review_items", "review_tasks"))
        with (
            cur.copy(
                "COPY review_items (id, created_at, locale, duration_bucket, policy_version, "
                "model_versions, key_sealed, sensitive_category, status, expires_at) FROM STDIN"
            ) as item_copy,
        ):
            tasks: list[tuple[Any, ...]] = []
            for _ in range(items):
                item_id = uuid.uuid4().hex
                created = now - timedelta(seconds=rng.uniform(60, 30 * 86400))
                locale = rng.choices(locales, weights)[0]
                sensitive = "violence" if rng.random() < SENSITIVE_SHARE else None
                _, key_sealed = new_item_key(keyring, item_id)
                item_copy.write_row(
                    (
                        item_id,
                        created,
                        locale,
                        "2-5s",
                        "bench",
                        "{}",
                        key_sealed,
                        sensitive,
                        "queued",
                        created + timedelta(days=183),
                    )
                )
                copies = OVERLAP_K if rng.random() < OVERLAP_SHARE else 1
                kind = "single" if copies == 1 else "overlap"
                pool = "safety" if sensitive else "general"
                tasks.extend(
                    (uuid.uuid4().hex, item_id, slot, kind, pool, locale, "queued", created)
                    for slot in range(copies)
                )
        with cur.copy(
            "COPY review_tasks (id, review_item_id, slot, kind, pool, locale, status, "
            "available_at) FROM STDIN"
        ) as task_copy:
            for row in tasks:
                task_copy.write_row(row)
        for statement in rebuild:
            cur.execute(statement)
        conn.commit()
    vacuum(url)


def drop_secondary_indexes(cur: psycopg.Cursor[Any], tables: tuple[str, ...]) -> list[str]:
    """Drop the indexes that back no constraint, and return the statements that make
    them again exactly as the migrations did: building an index once after COPY is far
    faster than keeping it up to date row by row."""
    rows = cur.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint)",
        (list(tables),),
    ).fetchall()
    for name, _ in rows:
        cur.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in rows]


def vacuum(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE review_tasks")
        conn.execute("VACUUM ANALYZE review_items")
        conn.execute("VACUUM ANALYZE annotations")
        conn.execute("VACUUM ANALYZE lease_grants")


def make_reviewers(db: Database, count: int) -> list[Reviewer]:
    """Reviewers spread over the locales like the items, a few bilingual, ten in the
    safety pool."""
    locale_plan = ["en-US"] * 7 + ["en-GB", "en-GB,en-US", "de-DE,en-US"]
    with db.transaction() as session:
        users = [
            StaffUser(
                username=f"reviewer-{n:03d}",
                password_hash="-",
                role="annotator",
                locales=locale_plan[n % len(locale_plan)],
                safety_pool=n < SAFETY_REVIEWERS,
            )
            for n in range(count)
        ]
        session.add_all(users)
        session.flush()
        return [Reviewer.of(user) for user in users]


def make_gold(db: Database, keyring: KeyRing) -> int:
    """Answer the oldest items of each locale through the queue and make them gold."""
    no_gold = WorkbenchPolicy(gold_share=0.0)
    made = 0
    with db.transaction() as session:
        qa = StaffUser(username="qa", password_hash="-", role="qa_reviewer", locales="")
        seeders = {
            locale: StaffUser(
                username=f"seed-{locale}", password_hash="-", role="annotator", locales=locale
            )
            for locale in GOLD_ITEMS
        }
        session.add_all([qa, *seeders.values()])
        session.flush()
        qa_reviewer = Reviewer.of(qa)
        seed_reviewers = {locale: Reviewer.of(user) for locale, user in seeders.items()}
    for locale, count in GOLD_ITEMS.items():
        who = seed_reviewers[locale]
        for _ in range(count):
            now = datetime.now(UTC)
            lease = queue.next_task(db, who, no_gold, now)
            assert lease is not None
            done = queue.submit(db, keyring, who, lease.lease_id, SUBMISSION, no_gold, now)
            queue.make_gold(db, keyring, qa_reviewer, done.id)
            made += 1
    return made


class Client(Protocol):
    """One reviewer's way to the queue: take a task (its lease id), submit it."""

    def take(self) -> str | None: ...

    def submit(self, lease_id: str) -> None: ...


@dataclass
class EarmuffClient:
    db: Database
    keyring: KeyRing
    who: Reviewer

    def take(self) -> str | None:
        lease = queue.next_task(self.db, self.who, POLICY, datetime.now(UTC))
        return None if lease is None else lease.lease_id

    def submit(self, lease_id: str) -> None:
        now = datetime.now(UTC)
        queue.submit(self.db, self.keyring, self.who, lease_id, SUBMISSION, POLICY, now)


@dataclass
class ReferenceClient:
    conn: psycopg.Connection[Any]
    who: Reviewer

    def take(self) -> str | None:
        lease = uuid.uuid4().hex
        params = {"lease": lease, "who": self.who.id, "locale": self.who.locales[0]}
        return lease if self.conn.execute(REFERENCE_TAKE, params).fetchone() else None

    def submit(self, lease_id: str) -> None:
        self.conn.execute(REFERENCE_SUBMIT, {"lease": lease_id, "who": self.who.id})


def reviewer_loop(client: Client, seed: str, think_s: float, window: Window, tally: Tally) -> None:
    """Take, think, submit, until the window ends; only whole cycles inside the
    measured part of the window count."""
    rng = random.Random(seed)
    while (started := time.time()) < window.end:
        try:
            t0 = time.perf_counter()
            lease_id = client.take()
            t1 = time.perf_counter()
            if lease_id is None:
                tally.empty += started >= window.measure_from
                time.sleep(think_s or 0.01)
                continue
            time.sleep(think_s * rng.uniform(0.5, 1.5))
            t2 = time.perf_counter()
            client.submit(lease_id)
            t3 = time.perf_counter()
        except Exception as exc:
            tally.failures.append(f"{seed[:8]}: {type(exc).__name__}: {exc}"[:300])
            continue
        if started >= window.measure_from and time.time() <= window.end:
            tally.take_ms.append((t1 - t0) * 1000)
            tally.submit_ms.append((t3 - t2) * 1000)
            tally.cycles += 1


def run_reviewer(
    system: str,
    db: Database,
    url: str,
    keyring: KeyRing,
    who: Reviewer,
    think_s: float,
    window: Window,
    tally: Tally,
) -> None:
    if system == "earmuff":
        reviewer_loop(EarmuffClient(db, keyring, who), who.id, think_s, window, tally)
        return
    with psycopg.connect(url, autocommit=True) as conn:
        reviewer_loop(ReferenceClient(conn, who), who.id, think_s, window, tally)


def worker_process(
    system: str,
    url: str,
    master_key: bytes,
    reviewers: list[Reviewer],
    think_s: float,
    ready: Any,
    go: Event,
    start_at: Any,
    durations: tuple[float, float],
    results: Any,
) -> None:
    """One server process's share of the reviewers, one thread each."""
    keyring = KeyRing(MasterKey(master_key))
    db = Database(sqlalchemy_url(url))
    db.engine.pool.dispose()
    with db.read() as session:
        session.execute(select(1))
    ready.put(os.getpid())
    go.wait()
    window = Window(start_at.value, start_at.value + durations[0], start_at.value + sum(durations))
    while time.time() < window.start:
        time.sleep(0.001)
    tallies = [Tally() for _ in reviewers]
    threads = [
        threading.Thread(
            target=run_reviewer, args=(system, db, url, keyring, who, think_s, window, tally)
        )
        for who, tally in zip(reviewers, tallies, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.dispose()
    results.put([asdict(tally) for tally in tallies])


@dataclass(frozen=True)
class Phase:
    name: str
    think_ms: float
    seconds: float


def measure(
    system: str,
    phase: Phase,
    url: str,
    master_key: bytes,
    reviewers: list[Reviewer],
    args: argparse.Namespace,
) -> Measurement:
    """Run every reviewer against ``system`` over the same window, and gather figures."""
    context = mp.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    start_at = context.Value("d", 0.0)
    shares = [reviewers[n :: args.processes] for n in range(args.processes)]
    processes = [
        context.Process(
            target=worker_process,
            args=(
                system,
                url,
                master_key,
                share,
                phase.think_ms / 1000,
                ready,
                go,
                start_at,
                (args.warmup, phase.seconds),
                results,
            ),
        )
        for share in shares
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=120)
    start_at.value = time.time() + 0.5
    go.set()
    tallies = [
        Tally(**raw)
        for _ in processes
        for raw in results.get(timeout=args.warmup + phase.seconds + 120)
    ]
    for process in processes:
        process.join()
    return summarize(system, phase, tallies)


def summarize(system: str, phase: Phase, tallies: list[Tally]) -> Measurement:
    take = np.array([ms for tally in tallies for ms in tally.take_ms])
    submit = np.array([ms for tally in tallies for ms in tally.submit_ms])
    cycles = sum(tally.cycles for tally in tallies)

    def pct(values: np.ndarray[Any, Any], q: float) -> float:
        return round(float(np.percentile(values, q)), 2) if len(values) else float("nan")

    return Measurement(
        system=system,
        phase=phase.name,
        think_ms=phase.think_ms,
        cycles=cycles,
        cycles_per_s=round(cycles / phase.seconds, 1),
        take_p50_ms=pct(take, 50),
        take_p99_ms=pct(take, 99),
        submit_p50_ms=pct(submit, 50),
        submit_p99_ms=pct(submit, 99),
        empty_takes=sum(tally.empty for tally in tallies),
        failures=[failure for tally in tallies for failure in tally.failures][:5],
    )


def integrity(url: str) -> list[str]:
    """What must never happen, checked after the run: a task done twice, an item done by
    one reviewer twice, two live leases for one reviewer."""
    checks = {
        "a task with two submissions": "SELECT count(*) FROM (SELECT task_id FROM annotations "
        "GROUP BY task_id HAVING count(*) > 1) t",
        "a reviewer with two annotations of one item": "SELECT count(*) FROM (SELECT "
        "review_item_id, staff_id FROM annotations GROUP BY 1, 2 HAVING count(*) > 1) t",
        "a reviewer holding two live leases": "SELECT count(*) FROM (SELECT lease_holder_id "
        "FROM review_tasks WHERE status = 'leased' AND lease_expires_at > now() "
        "GROUP BY 1 HAVING count(*) > 1) t",
    }
    broken = []
    with psycopg.connect(url) as conn:
        for what, sql in checks.items():
            row = conn.execute(sql).fetchone()
            if row is not None and row[0]:
                broken.append(f"{row[0]} x {what}")
    return broken


def report(rows: list[Measurement], args: argparse.Namespace, load: float) -> None:
    print(
        f"{args.items:,} queued items, {args.reviewers} reviewers in {args.processes} processes, "
        f"{args.warmup:g} s warm-up per run; load average at start {load:.2f} "
        f"on {os.cpu_count()} CPUs"
    )
    print(
        f"{'system':<10} {'phase':<10} {'think ms':>8} {'cycles/s':>9} {'take p50':>9} "
        f"{'take p99':>9} {'submit p50':>11} {'submit p99':>11} {'empty':>6}"
    )
    for row in rows:
        print(
            f"{row.system:<10} {row.phase:<10} {row.think_ms:>8g} {row.cycles_per_s:>9.1f} "
            f"{row.take_p50_ms:>9.2f} {row.take_p99_ms:>9.2f} {row.submit_p50_ms:>11.2f} "
            f"{row.submit_p99_ms:>11.2f} {row.empty_takes:>6}"
        )
    by = {(row.system, row.phase): row for row in rows}
    for phase in dict.fromkeys(row.phase for row in rows):
        ours, theirs = by[("earmuff", phase)], by[("reference", phase)]
        print(
            f"{phase}: earmuff/reference throughput {ours.cycles_per_s / theirs.cycles_per_s:.2f}, "
            f"take p50 {ours.take_p50_ms / theirs.take_p50_ms:.1f}x, "
            f"take p99 {ours.take_p99_ms / theirs.take_p99_ms:.1f}x"
        )
    paced = by[("earmuff", "paced")]
    verdict = "meets" if paced.take_p99_ms < TARGET_P99_MS else "MISSES"
    print(
        f"earmuff next-task p99 at {args.reviewers} reviewers, think ~{args.think_ms:g} ms: "
        f"{paced.take_p99_ms:.2f} ms, {verdict} the target of {TARGET_P99_MS:g} ms"
    )
    for row in rows:
        for failure in row.failures:
            print(f"{row.system} {row.phase} failure: {failure}", file=sys.stderr)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "EARMUFF_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a server where the bench may create and drop a database",
    )
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--reviewers", type=int, default=50)
    parser.add_argument("--processes", type=int, default=2, help="like earmuff serve --workers")
    parser.add_argument(
        "--think-ms", type=float, default=1000.0, help="mean work per task, paced phase"
    )
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds not measured")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds measured, paced")
    parser.add_argument(
        "--capacity-seconds",
        type=float,
        default=15.0,
        help="seconds measured without think time (0: skip that phase)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the results here")
    args = parser.parse_args(argv)
    if args.items < sum(GOLD_ITEMS.values()) * 2 or args.reviewers < 1 or args.processes < 1:
        parser.error("--items must be at least 400, --reviewers and --processes at least 1")
    if args.think_ms < 0 or args.warmup < 0 or args.seconds <= 0 or args.capacity_seconds < 0:
        parser.error("--think-ms, --warmup, --capacity-seconds must be >= 0, --seconds > 0")
    return args


def run(url: str, args: argparse.Namespace) -> tuple[list[Measurement], list[str]]:
    """Load the scratch database, then measure each phase, earmuff first, then the
    reference; the queue's integrity is checked after earmuff's runs."""
    master_key = secrets.token_bytes(32)
    keyring = KeyRing(MasterKey(master_key))
    db = Database(sqlalchemy_url(url))
    db.migrate()
    started = time.perf_counter()
    load(url, keyring, args.items, args.seed)
    print(f"loaded {args.items:,} items in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    reviewers = make_reviewers(db, args.reviewers)
    make_gold(db, keyring)
    db.dispose()
    phases = [Phase("paced", args.think_ms, args.seconds)]
    if args.capacity_seconds > 0:
        phases.append(Phase("saturated", 0.0, args.capacity_seconds))
    rows: list[Measurement] = []
    broken: list[str] = []
    for system in ("earmuff", "reference"):
        for phase in phases:
            rows.append(measure(system, phase, url, master_key, reviewers, args))
            vacuum(url)
        if system == "earmuff":
            broken = integrity(url)
    return rows, broken


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_average = os.getloadavg()[0]
    try:
        with scratch_database(args.postgres) as url:
            rows, broken = run(url, args)
    except SetupFailed as exc:
        print(exc, file=sys.stderr)
        return 2
    report(rows, args, load_average)
    if args.json:
        results = {
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "load_average_at_start": load_average,
            "runs": [asdict(row) for row in rows],
            "integrity_problems": broken,
            "target_take_p99_ms": TARGET_P99_MS,
        }
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    for problem in broken:
        print(f"integrity: {problem}", file=sys.stderr)
    failed = any(row.failures for row in rows)
    return 1 if broken or failed else 0


if __name__ == "__main__":
    sys.exit(main())
