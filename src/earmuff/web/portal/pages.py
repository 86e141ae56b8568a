"""The owner portal's pages: plain HTML forms over the owner services, no script needed.

Every page is server-rendered; every form posts the session's CSRF token; every answer
to a form is a redirect (post/redirect/get), so reloading a page never repeats a
deletion or a consent change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from earmuff.owner import consent as consent_service
from earmuff.owner.deletion import (
    DeletionError,
    NotFound,
    delete_everything,
    delete_range,
    delete_recording,
    receipt,
    receipts,
    verify_receipt,
)
from earmuff.owner.disclosure import DisclosureError, Disclosures
from earmuff.owner.export import audited_export
from earmuff.owner.login import end_session, redeem_login_link
from earmuff.owner.retention import (
    OWNER_CHOICES,
    RetentionError,
    retention_label,
    set_raw_retention,
)
from earmuff.owner.transparency import (
    PAGE_SIZE,
    list_recordings,
    recording_view,
    role_words,
    transparency_report,
)
from earmuff.store import Store
from earmuff.store.models import (
    Account,
    ConsentChange,
    DeletionRequest,
    DisclosureText,
    utcnow,
)
from earmuff.web.portal.audio import copy_audio, recording_audio
from earmuff.web.portal.dates import DateError, day_range
from earmuff.web.portal.session import (
    COOKIE,
    Owner,
    check_csrf,
    clear_session_cookie,
    page_owner,
    set_session_cookie,
    store_of,
)
from earmuff.web.templating import make_templates

router = APIRouter(prefix="/portal", include_in_schema=False)
OwnerPage = Annotated[Owner, Depends(page_owner)]
FormText = Annotated[str, Form()]


@dataclass(frozen=True)
class Portal:
    """What every page needs besides the store, built once per app."""

    templates: Jinja2Templates
    disclosures: Disclosures


def make_portal() -> Portal:
    templates = make_templates()
    templates.env.filters["when"] = _when
    templates.env.filters["day"] = _day
    templates.env.filters["role"] = role_words
    return Portal(templates, Disclosures())


def _when(value: object) -> str:
    return value.strftime("%d %b %Y, %H:%M UTC") if isinstance(value, datetime) else "—"


def _day(value: object) -> str:
    return value.strftime("%d %b %Y") if isinstance(value, datetime) else "—"


def portal_of(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def render(
    request: Request, name: str, context: dict[str, Any], owner: Owner | None, status: int = 200
) -> Response:
    return portal_of(request).templates.TemplateResponse(
        request, f"portal/{name}", {"owner": owner, **context}, status_code=status
    )


def see(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


@router.get("/sign-in")
def sign_in_page(request: Request, token: str = "", signed_out: bool = False) -> Response:
    return render(request, "sign_in.html", {"token": token, "signed_out": signed_out}, None)


@router.post("/sign-in")
def sign_in(request: Request, token: FormText = "") -> Response:
    store = store_of(request)
    with store.db.transaction() as session:
        signed = redeem_login_link(session, token.strip(), store.settings.policy.owner, "portal")
    if signed is None or signed.token is None:
        return render(request, "sign_in.html", {"token": "", "failed": True}, None, 400)
    response = see("/portal")
    set_session_cookie(response, signed.token, signed.expires_at)
    return response


@router.post("/sign-out")
def sign_out(request: Request, owner: OwnerPage, csrf: FormText = "") -> Response:
    check_csrf(owner, csrf, api=False)
    with store_of(request).db.transaction() as session:
        end_session(session, request.cookies.get(COOKIE, ""), "portal")
    response = see("/portal/sign-in?signed_out=true")
    clear_session_cookie(response)
    return response


@router.get("")
def home(
    request: Request,
    owner: OwnerPage,
    stopped: int | None = None,
    reviewed: int | None = None,
    held: bool = False,
    allowed: bool = False,
) -> Response:
    notice = {"stopped": stopped, "reviewed": reviewed, "held": held, "allowed": allowed}
    return _home(request, owner, notice, None)


def _home(
    request: Request,
    owner: Owner,
    notice: dict[str, Any],
    error: str | None,
    status_code: int = 200,
) -> Response:
    store = store_of(request)
    policy = store.settings.policy
    with store.db.read() as session:
        account = session.get(Account, owner.account_id)
        assert account is not None
        status = consent_service.review_status(session, policy, account)
        latest, total = list_recordings(session, store, owner.account_id, 1, 5)
        held_requests = [r for r in receipts(session, owner.account_id) if r.status == "held"]
    return render(
        request,
        "home.html",
        {
            "status": status,
            "disclosure": portal_of(request).disclosures.current(policy),
            "latest": latest,
            "total": total,
            "notice": notice,
            "error": error,
            "on_hold": account.legal_hold_reason is not None,
            "held_requests": held_requests,
            "retention": retention_label(
                account.raw_retention, policy.retention.raw_recordings_days
            ),
        },
        owner,
        status_code,
    )


@router.post("/consent")
def change_consent(
    request: Request,
    owner: OwnerPage,
    csrf: FormText = "",
    choice: FormText = "",
    disclosure_version: FormText = "",
    disclosure_sha256: FormText = "",
) -> Response:
    check_csrf(owner, csrf, api=False)
    store = store_of(request)
    policy = store.settings.policy
    if choice not in ("allow", "stop"):
        return _home(request, owner, {}, "Choose to allow or to stop human review.", 400)
    try:
        shown = portal_of(request).disclosures.shown(
            disclosure_version, disclosure_sha256 or None, policy
        )
    except DisclosureError as exc:
        if choice == "allow":
            return _home(request, owner, {}, f"{str(exc).capitalize()}.", 409)
        shown = None
    try:
        if choice == "allow":
            assert shown is not None
            consent_service.grant(store, owner.account_id, "portal", shown)
            return see("/portal?allowed=true")
        result = consent_service.withdraw(store, owner.account_id, "portal", shown)
    except consent_service.ConsentError as exc:
        return _home(request, owner, {}, f"{str(exc).capitalize()}.", 409)
    held = "&held=true" if result.held else ""
    return see(f"/portal?stopped={result.withdrawn}&reviewed={result.reviewed_deleted}{held}")


@router.get("/recordings")
def recordings(
    request: Request, owner: OwnerPage, page: Annotated[int, Query(ge=1)] = 1
) -> Response:
    store = store_of(request)
    with store.db.read() as session:
        rows, total = list_recordings(session, store, owner.account_id, page, PAGE_SIZE)
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return render(
        request,
        "recordings.html",
        {"rows": rows, "page": page, "pages": pages, "total": total},
        owner,
    )


@router.get("/recordings/{recording_id}")
def recording(request: Request, owner: OwnerPage, recording_id: str) -> Response:
    return _recording(request, owner, recording_id, None)


def _recording(
    request: Request, owner: Owner, recording_id: str, error: str | None, status: int = 200
) -> Response:
    store = store_of(request)
    with store.db.read() as session:
        view = recording_view(session, store, owner.account_id, recording_id)
    if view is None:
        return render(request, "not_found.html", {}, owner, 404)
    return render(request, "recording.html", {"view": view, "error": error}, owner, status)


@router.get("/recordings/{recording_id}/audio")
def recording_audio_page(request: Request, owner: OwnerPage, recording_id: str) -> Response:
    return recording_audio(store_of(request), owner.account_id, recording_id, "portal")


@router.get("/recordings/{recording_id}/copies/{item_id}/audio")
def copy_audio_page(
    request: Request, owner: OwnerPage, recording_id: str, item_id: str
) -> Response:
    return copy_audio(store_of(request), owner.account_id, recording_id, item_id, "portal")


@router.post("/recordings/{recording_id}/delete")
def delete_one(
    request: Request, owner: OwnerPage, recording_id: str, csrf: FormText = ""
) -> Response:
    check_csrf(owner, csrf, api=False)
    try:
        done = delete_recording(store_of(request), owner.account_id, recording_id, "portal")
    except NotFound:
        return render(request, "not_found.html", {}, owner, 404)
    except DeletionError as exc:
        return _recording(request, owner, recording_id, f"{str(exc).capitalize()}.", 409)
    return see(f"/portal/receipts/{done.id}")


@router.get("/delete")
def delete_page(request: Request, owner: OwnerPage) -> Response:
    return render(request, "delete.html", {"error": None}, owner)


@router.post("/delete")
def delete_many(
    request: Request,
    owner: OwnerPage,
    csrf: FormText = "",
    scope: FormText = "",
    first_day: FormText = "",
    last_day: FormText = "",
    confirm: FormText = "",
) -> Response:
    check_csrf(owner, csrf, api=False)
    store = store_of(request)
    try:
        if scope == "range":
            start, end = day_range(first_day, last_day)
            done = delete_range(store, owner.account_id, start, end, "portal")
        elif scope == "everything":
            if confirm != "yes":
                raise DeletionError("tick the box to confirm that everything should go")
            done = delete_everything(store, owner.account_id, "portal")
        else:
            raise DeletionError("choose a date range or everything")
    except (DateError, DeletionError) as exc:
        return render(request, "delete.html", {"error": f"{str(exc).capitalize()}."}, owner, 400)
    return see(f"/portal/receipts/{done.id}")


@router.get("/receipts")
def receipts_page(request: Request, owner: OwnerPage) -> Response:
    with store_of(request).db.read() as session:
        rows = receipts(session, owner.account_id)
    return render(request, "receipts.html", {"rows": rows}, owner)


@router.get("/receipts/{receipt_id}")
def receipt_page(request: Request, owner: OwnerPage, receipt_id: str) -> Response:
    with store_of(request).db.read() as session:
        found = receipt(session, owner.account_id, receipt_id)
        row = session.get(DeletionRequest, receipt_id)
        intact = row is not None and found is not None and verify_receipt(row)
    if found is None:
        return render(request, "not_found.html", {}, owner, 404)
    return render(request, "receipt.html", {"receipt": found, "intact": intact}, owner)


@router.get("/report")
def report_page(request: Request, owner: OwnerPage) -> Response:
    store = store_of(request)
    with store.db.read() as session:
        report = transparency_report(session, store, owner.account_id, utcnow())
    return render(request, "report.html", {"report": report}, owner)


@router.get("/settings")
def settings_page(request: Request, owner: OwnerPage, saved: bool = False) -> Response:
    return _settings(request, owner, saved, None)


def _settings(
    request: Request, owner: Owner, saved: bool, error: str | None, status: int = 200
) -> Response:
    store = store_of(request)
    days = store.settings.policy.retention.raw_recordings_days
    with store.db.read() as session:
        account = session.get(Account, owner.account_id)
        assert account is not None
    return render(
        request,
        "settings.html",
        {
            "current": retention_label(account.raw_retention, days),
            "choice": account.raw_retention,
            "choices": [(choice, retention_label(choice, days)) for choice in OWNER_CHOICES],
            "review_days": store.settings.policy.retention.review_items_days,
            "saved": saved,
            "error": error,
        },
        owner,
        status,
    )


@router.post("/settings/retention")
def save_retention(
    request: Request, owner: OwnerPage, csrf: FormText = "", raw_retention: FormText = ""
) -> Response:
    check_csrf(owner, csrf, api=False)
    try:
        set_raw_retention(store_of(request), owner.account_id, raw_retention, "portal")
    except RetentionError as exc:
        return _settings(request, owner, False, f"{str(exc).capitalize()}.", 400)
    return see("/portal/settings?saved=true")


@router.get("/consent-history")
def consent_history(request: Request, owner: OwnerPage) -> Response:
    with store_of(request).db.read() as session:
        rows = session.scalars(
            select(ConsentChange)
            .where(ConsentChange.account_id == owner.account_id)
            .order_by(ConsentChange.changed_at.desc(), ConsentChange.id.desc())
        ).all()
    return render(request, "consent_history.html", {"rows": rows}, owner)


@router.get("/disclosures/{sha256}")
def disclosure_shown(request: Request, owner: OwnerPage, sha256: str) -> Response:
    with store_of(request).db.read() as session:
        shown = session.scalar(
            select(ConsentChange.id).where(
                ConsentChange.account_id == owner.account_id,
                ConsentChange.disclosure_sha256 == sha256,
            )
        )
        text = session.get(DisclosureText, sha256) if shown is not None else None
    if text is None:
        return render(request, "not_found.html", {}, owner, 404)
    return render(request, "disclosure.html", {"text": text}, owner)


@router.get("/export")
def export(request: Request, owner: OwnerPage) -> Response:
    return export_response(store_of(request), owner, "portal")


def export_response(store: Store, owner: Owner, via: str) -> Response:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", owner.external_id)[:64]
    stamp = utcnow().strftime("%Y%m%d")
    return StreamingResponse(
        audited_export(store, owner.account_id, via),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="earmuff-{name}-{stamp}.zip"'},
    )
