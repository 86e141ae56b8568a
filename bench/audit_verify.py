"""`earmuff audit verify` on a long log: its memory stays flat, its time against a bare loop.

What it measures
    A fresh SQLite workspace is filled with a chained audit log of N events (small and
    large N, default 100,000 and 1,000,000), signed by a checkpoint every 1,000 events,
    as the server writes them. For each size, ``earmuff audit verify`` runs in its own
    process and its peak resident memory (ru_maxrss) and wall time are read; so does a
    reference in the same run: a bare loop that reads the same rows with sqlite3 and
    hashes each the same way, with no checkpoints, no ORM and no report. Printed: the
    peak memory of each at each size, the ratio large/small of earmuff's peak (flat
    means about 1.0), and earmuff's time over the reference's.

Why a ratio
    Absolute speed and memory depend on the machine and what else runs on it; the two
    are measured back to back on the same file.

Run it with ``.venv/bin/python bench/audit_verify.py`` (about a minute per million).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

CHECKPOINT_EVERY = 1000
REFERENCE = """
import hashlib, json, sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
prev = "0" * 64
count = 0
for occurred_at, actor, action, subject, details, prev_hash, digest in conn.execute(
    "SELECT occurred_at, actor, action, subject, details, prev_hash, hash"
    " FROM audit_events ORDER BY id"
):
    body = json.dumps([prev_hash, occurred_at, actor, action, subject, json.loads(details)],
                      sort_keys=True, separators=(",", ":"))
    assert prev_hash == prev and len(hashlib.sha256(body.encode()).hexdigest()) == 64
    prev = digest
    count += 1
print(count)
"""


def fill(workspace: Path, events: int) -> None:
    """A workspace whose log holds ``events`` chained events and their checkpoints.

    Run in a process of its own (``--fill``): the measuring process stays small, as a
    child's peak memory counts the parent's pages it was forked with.
    """
    from earmuff.audit.checkpoints import Checkpoint, CheckpointFolder, key_id
    from earmuff.audit.checkpoints import load_or_create_signing_key as signing_key
    from earmuff.audit.log import GENESIS, event_hash
    from earmuff.config import Settings
    from earmuff.store import open_store

    settings = Settings.for_workspace(workspace, env={})
    open_store(settings).close()
    key = signing_key(settings.workspace / settings.audit_signing_key_file)
    folder = CheckpointFolder(settings.workspace / settings.audit_checkpoint_dir)
    database = settings.workspace / "earmuff.db"
    conn = sqlite3.connect(database)
    conn.execute("PRAGMA journal_mode=WAL")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    prev, batch = GENESIS, []
    for seq in range(1, events + 1):
        at = start + timedelta(milliseconds=seq)
        details = {"item": hashlib.sha256(str(seq).encode()).hexdigest()[:32], "seconds": 4.2}
        actor, action, subject = f"staff:{seq % 97:032x}", "audio.streamed", f"mark:{seq:016x}"
        digest = event_hash(prev, at, actor, action, subject, details)
        stored_at = at.strftime("%Y-%m-%d %H:%M:%S.%f")
        batch.append(
            (seq, seq, stored_at, actor, action, subject, json.dumps(details), prev, digest)
        )
        prev = digest
        if seq % CHECKPOINT_EVERY == 0:
            folder.write(
                Checkpoint(seq, seq, digest, at.isoformat(), key_id(key.public_key())).signed_with(
                    key
                )
            )
        if len(batch) == 50_000 or seq == events:
            conn.executemany(
                "INSERT INTO audit_events (id, seq, occurred_at, actor, action, subject, details,"
                " prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                batch,
            )
            conn.commit()
            batch = []
    conn.close()


def measure(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, this command's own peak resident MiB, and what it printed."""
    began = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - began
        out.seek(0)
        printed = out.read()
    if child.returncode != 0:
        raise SystemExit(f"{command[:3]} failed: {printed}")
    return seconds, usage.ru_maxrss / 1024, printed.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[100_000, 1_000_000])
    parser.add_argument("--fill", nargs=2, metavar=("WORKSPACE", "EVENTS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.fill:
        fill(Path(args.fill[0]), int(args.fill[1]))
        return 0
    earmuff = str(Path(sys.executable).with_name("earmuff"))
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in sorted(args.sizes):
            workspace = Path(scratch) / f"w{size}"
            subprocess.run(
                [sys.executable, __file__, "--fill", str(workspace), str(size)], check=True
            )
            ours = measure([earmuff, "audit", "verify", "-w", str(workspace)])
            assert f"OK: {size} events" in ours[2], ours[2]
            reference = measure([sys.executable, "-c", REFERENCE, str(workspace / "earmuff.db")])
            rows.append((size, ours, reference))
            print(
                f"{size:>9,} events: earmuff {ours[0]:6.1f} s, peak {ours[1]:6.1f} MiB | "
                f"bare loop {reference[0]:6.1f} s, peak {reference[1]:6.1f} MiB | "
                f"time ratio {ours[0] / reference[0]:.2f}",
                flush=True,
            )
    (small, ours_small, _), (large, ours_large, _) = rows
    print(
        f"peak memory {large:,} / {small:,} events: {ours_large[1] / ours_small[1]:.2f} "
        "(flat: about 1)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
