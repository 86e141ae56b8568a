"""Whatever a reviewer's browser sends, the workbench answers without a server error and
a refused submission changes nothing."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from earmuff.store import Store
from earmuff.store.models import Annotation, ReviewTask
from tests.workbench.items import queued_item
from tests.workbench.staff import add_person, sign_in

FIELDS = ("transcript", "intent", "flag", "sensitive_category", "slot_time", "slot_contact")
text = st.text(max_size=300) | st.sampled_from(
    ["", "play_music", "pii_leak", "self_harm", "\x00", "9" * 5000]
)
form = st.dictionaries(st.sampled_from(FIELDS), text, max_size=len(FIELDS))


def test_fuzzed_submissions_never_fail_and_refusals_leave_no_trace(
    store: Store, browser: TestClient
) -> None:
    ana = add_person(store, "ana", "annotator")
    csrf = sign_in(browser, ana)
    for _ in range(40):
        queued_item(store)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(fields=form, lease_ok=st.booleans(), flags=st.lists(text, max_size=3))
    def submit(fields: dict[str, str], lease_ok: bool, flags: list[str]) -> None:
        page = browser.post("/workbench/next", data={"csrf_token": csrf}).text
        match = re.search(r'name="lease_id" value="([^"]+)"', page)
        if match is None:
            return
        lease_id = match.group(1) if lease_ok else "not-a-lease"
        with store.db.read() as session:
            before = session.scalar(select(func.count()).select_from(Annotation))
        data: dict[str, str | list[str]] = {"csrf_token": csrf, "lease_id": lease_id, **fields}
        data["flag"] = flags
        response = browser.post("/workbench/submit", data=data)
        assert response.status_code < 500
        with store.db.read() as session:
            after = session.scalar(select(func.count()).select_from(Annotation))
            held = session.scalar(
                select(func.count()).select_from(ReviewTask).where(ReviewTask.status == "leased")
            )
        if response.status_code >= 400 or "lease had ended" in response.text:
            assert after == before
            assert held == 1
        else:
            assert after == (before or 0) + 1

    submit()


def test_fuzzed_second_listen_and_skip_requests_never_fail(
    store: Store, browser: TestClient
) -> None:
    queued_item(store)
    ana = add_person(store, "ana", "annotator")
    csrf = sign_in(browser, ana)
    page = browser.post("/workbench/next", data={"csrf_token": csrf}).text
    lease_id = re.search(r'name="lease_id" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(start=text, end=text, reason=text)
    def send(start: str, end: str, reason: str) -> None:
        listen = browser.post(
            "/workbench/second-listen",
            data={"csrf_token": csrf, "lease_id": lease_id, "start_s": start, "end_s": end},
        )
        assert listen.status_code < 500
        skip = browser.post(
            "/workbench/skip",
            data={"csrf_token": csrf, "lease_id": "x" + lease_id, "reason": reason},
        )
        assert skip.status_code < 500

    send()
