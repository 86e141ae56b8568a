"""The workbench part of ``earmuff demo``: staff accounts, a review through the real pages,
a flag that reaches the safety console, and a leaked copy traced back to its listener."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import httpx
import numpy as np
import pyotp
import soundfile as sf
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from earmuff.audio.watermark import identify
from earmuff.audit.marks import stream_of_mark
from earmuff.evaluate import leaks
from earmuff.store import Store
from earmuff.store.crypto import watermark_key
from earmuff.store.models import SafetyCase
from earmuff.store.staff import create_staff

STAFF = (
    ("ana", "annotator", "en-US", False),
    ("sam", "annotator", "en-US", True),
    ("quinn", "qa_reviewer", "en-US", False),
    ("olu", "safety_officer", "en-US", False),
    ("pia", "privacy_officer", "", False),
    ("root", "admin", "", False),
    ("ada", "admin", "", False),
)
"""Two admins, so the demo can show that one proposes a person and the other approves."""


@dataclass(frozen=True)
class DemoStaff:
    username: str
    role: str
    password: str
    totp_secret: str


def seed_staff(store: Store, console: Console) -> dict[str, DemoStaff]:
    """One person per role, made directly in the store as the tests make them: the demo's
    operator plays every one of these fictional people, so their passwords and TOTP
    secrets are printed, once. Real accounts are never made this way: an admin
    proposes, another approves, and the person enrols (``review/enrolment.py``)."""
    table = Table(
        title="Demo staff accounts, yours to play (passwords argon2id-hashed, TOTP secrets "
        "sealed); real ones enrol themselves after two admins agree"
    )
    for column in ("user", "role", "password", "TOTP secret (add to an authenticator)"):
        table.add_column(column, overflow="fold")
    people = {}
    with store.db.transaction() as session:
        for username, role, locales, safety_pool in STAFF:
            made = create_staff(
                session, store.keyring, username, role, locales=locales, safety_pool=safety_pool
            )
            people[username] = DemoStaff(username, role, made.password, made.totp_secret)
            table.add_row(
                username,
                role + (" (safety pool)" if safety_pool else ""),
                made.password,
                made.totp_secret,
            )
    console.print(table)
    return people


def sign_in(client: httpx.Client, person: DemoStaff) -> str:
    """Both sign-in steps, as a browser does them; returns the session's CSRF token."""
    page = _keep_cookies(client, client.get("/login"))
    _keep_cookies(
        client,
        client.post(
            "/login",
            data={
                "username": person.username,
                "password": person.password,
                "csrf_token": _csrf(page.text),
            },
            follow_redirects=False,
        ),
    )
    page = client.get("/login/code")
    _keep_cookies(
        client,
        client.post(
            "/login/code",
            data={"code": pyotp.TOTP(person.totp_secret).now(), "csrf_token": _csrf(page.text)},
            follow_redirects=False,
        ),
    )
    token: str = client.get("/api/staff/me").raise_for_status().json()["csrf_token"]
    return token


def _keep_cookies(client: httpx.Client, response: httpx.Response) -> httpx.Response:
    """Browsers send Secure cookies to http://127.0.0.1 (a secure context); httpx does
    not, so the demo's client keeps them itself, for this loopback server only."""
    for name, value in response.cookies.items():
        client.cookies.set(name, value)
    return response


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if match is None:
        raise RuntimeError("the page carries no CSRF token")
    return match.group(1)


def review_tour(
    base_url: str, store: Store, people: dict[str, DemoStaff], console: Console
) -> None:
    """Ana reviews the queue through the workbench's own routes; a leaked copy of what
    she heard, re-recorded over a phone line, is traced back to her lease."""
    with httpx.Client(base_url=base_url, timeout=60, follow_redirects=True) as ana:
        csrf = sign_in(ana, people["ana"])
        table = Table(title="ana works the queue in the workbench")
        for column in ("task", "masked transcript shown", "what she did"):
            table.add_column(column)
        leaked: bytes | None = None
        for number in range(1, 20):
            page = ana.post("/workbench/next", data={"csrf_token": csrf}).text
            lease = re.search(r'name="lease_id" value="([^"]+)"', page)
            if lease is None:
                break
            transcript = re.search(r'id="transcript"[^>]*>([^<]*)<', page)
            shown = transcript.group(1) if transcript else ""
            url = ana.post(
                "/api/workbench/audio-url",
                json={"lease_id": lease.group(1)},
                headers={"X-CSRF-Token": csrf},
            ).json()["url"]
            audio = ana.get(url)
            leaked = leaked or audio.content
            flag = "possible_crime" if number == 2 else None
            ana.post(
                "/workbench/submit",
                data={
                    "csrf_token": csrf,
                    "lease_id": lease.group(1),
                    "transcript": shown,
                    "intent": "other",
                    **({"flag": flag} if flag else {}),
                },
            )
            did = f"flagged {flag}: a safety case opened" if flag else "heard it, submitted"
            table.add_row(str(number), shown[:60], did)
        console.print(table)
    with store.db.read() as session:
        cases = session.scalars(select(SafetyCase)).all()
    console.print(f"safety console: {len(cases)} open case(s), SLA clock running")
    if leaked is not None:
        _trace_leak(store, leaked, console)


def _trace_leak(store: Store, wav: bytes, console: Console) -> None:
    samples, rate = sf.read(io.BytesIO(wav), dtype="float32")
    copy = leaks.phone(samples, rate, np.random.default_rng(7))
    found = identify(copy, rate, watermark_key(store.keyring.master))
    if found is None:
        console.print("leak trace: no watermark found in the re-recorded copy")
        return
    with store.db.read() as session:
        stream = stream_of_mark(session, found.payload)
    if stream is None:
        console.print("leak trace: a mark was found but no stream carries it")
        return
    console.print(
        f"leak trace: a copy re-recorded over a phone line (8 kHz, noise 20 dB below the "
        f"speech) carries mark {stream.code}: streamed to {stream.username} ({stream.role}) "
        f"under lease {(stream.lease or '')[:8]} at {stream.streamed_at:%H:%M:%S} UTC"
    )
