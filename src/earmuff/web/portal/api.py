"""``/v1/owner``: the JSON API behind the portal, for the company's apps and for scripts.

It signs in with the same one-use link and the same session cookie as the pages; every
request that changes something also sends the session's CSRF token in ``X-CSRF-Token``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from earmuff.owner import consent as consent_service
from earmuff.owner.consent import ConsentResult, ReviewStatus
from earmuff.owner.deletion import (
    DeletionError,
    NotFound,
    Receipt,
    delete_everything,
    delete_range,
    delete_recording,
    receipt,
    receipts,
)
from earmuff.owner.disclosure import DisclosureError
from earmuff.owner.login import end_session, redeem_login_link
from earmuff.owner.retention import RetentionError, retention_label, set_raw_retention
from earmuff.owner.transparency import (
    PAGE_SIZE,
    RecordingSummary,
    RecordingView,
    TransparencyReport,
    list_recordings,
    recording_view,
    transparency_report,
)
from earmuff.store.models import Account, ConsentChange, utcnow
from earmuff.web.errors import ApiError, ErrorBody
from earmuff.web.portal.audio import copy_audio, recording_audio
from earmuff.web.portal.dates import DateError, day_range
from earmuff.web.portal.pages import export_response, portal_of
from earmuff.web.portal.session import (
    COOKIE,
    CSRF_HEADER,
    Owner,
    api_owner,
    check_csrf,
    clear_session_cookie,
    set_session_cookie,
    store_of,
)

router = APIRouter(
    prefix="/v1/owner",
    tags=["owner"],
    responses={
        401: {"model": ErrorBody, "description": "not signed in"},
        403: {"model": ErrorBody, "description": "missing or wrong X-CSRF-Token"},
    },
)
OwnerApi = Annotated[Owner, Depends(api_owner)]
CsrfToken = Annotated[str | None, Header(alias=CSRF_HEADER)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignInBody(_Body):
    token: str = Field(max_length=128, description="The token of a link from `accounts login-link`")


class SessionInfo(BaseModel):
    account_id: str
    csrf_token: str
    expires_at: str


class DisclosureOut(BaseModel):
    version: str
    sha256: str
    text: str


class Me(BaseModel):
    account_id: str
    review: ReviewStatus
    disclosure: DisclosureOut
    raw_retention: str
    raw_retention_in_words: str
    on_legal_hold: bool
    data_deleted: bool


class ConsentBody(_Body):
    choice: Literal["granted", "withdrawn"]
    disclosure_version: str | None = Field(default=None, max_length=64)
    disclosure_sha256: str | None = Field(default=None, max_length=64)


class ConsentEntry(BaseModel):
    at: str
    human_review: str
    source: str
    disclosure_version: str | None
    disclosure_sha256: str | None


class RecordingPage(BaseModel):
    recordings: list[RecordingSummary]
    page: int
    pages: int
    total: int


class DeletionBody(_Body):
    scope: Literal["range", "everything"]
    first_day: str | None = Field(default=None, description="YYYY-MM-DD (UTC), for a range")
    last_day: str | None = Field(default=None, description="YYYY-MM-DD (UTC), included")
    confirm: bool = Field(default=False, description="Must be true to delete everything")


class RetentionBody(_Body):
    raw_retention: Literal["3m", "18m", "keep"]


@router.post("/session", summary="Exchange a one-use sign-in link for a session")
def sign_in(request: Request, body: SignInBody) -> JSONResponse:
    store = store_of(request)
    with store.db.transaction() as session:
        signed = redeem_login_link(session, body.token.strip(), store.settings.policy.owner, "api")
    if signed is None or signed.token is None:
        raise ApiError(401, "invalid_link", "the link is unknown, expired or already used", "token")
    info = SessionInfo(
        account_id=_external(request, signed.account_id),
        csrf_token=signed.csrf_token,
        expires_at=signed.expires_at.isoformat(),
    )
    response = JSONResponse(info.model_dump(), status_code=201)
    set_session_cookie(response, signed.token, signed.expires_at)
    return response


def _external(request: Request, account_id: str) -> str:
    with store_of(request).db.read() as session:
        account = session.get(Account, account_id)
        return account.external_id if account else ""


@router.delete("/session", status_code=204, summary="Sign out")
def sign_out(request: Request, owner: OwnerApi, csrf: CsrfToken = None) -> Response:
    check_csrf(owner, csrf, api=True)
    with store_of(request).db.transaction() as session:
        end_session(session, request.cookies.get(COOKIE, ""), "api")
    response = Response(status_code=204)
    clear_session_cookie(response)
    return response


@router.get("/me", summary="Whether people may listen, and the account's choices")
def me(request: Request, owner: OwnerApi) -> Me:
    store = store_of(request)
    policy = store.settings.policy
    disclosure = portal_of(request).disclosures.current(policy)
    with store.db.read() as session:
        account = session.get(Account, owner.account_id)
        assert account is not None
        status = consent_service.review_status(session, policy, account)
    return Me(
        account_id=owner.external_id,
        review=status,
        disclosure=DisclosureOut(
            version=disclosure.version, sha256=disclosure.sha256, text=disclosure.text
        ),
        raw_retention=account.raw_retention,
        raw_retention_in_words=retention_label(
            account.raw_retention, policy.retention.raw_recordings_days
        ),
        on_legal_hold=account.legal_hold_reason is not None,
        data_deleted=account.deleted_at is not None,
    )


@router.put(
    "/consent",
    summary="Allow or stop human review",
    description="Granting needs the disclosure version (and ideally its SHA-256) from "
    "`GET /v1/owner/me`. Withdrawing takes effect at once; the answer says how many "
    "review copies were withdrawn.",
    responses={
        409: {"model": ErrorBody, "description": "the disclosure changed, or no change possible"}
    },
)
def put_consent(
    request: Request, owner: OwnerApi, body: ConsentBody, csrf: CsrfToken = None
) -> ConsentResult:
    check_csrf(owner, csrf, api=True)
    store = store_of(request)
    disclosures = portal_of(request).disclosures
    try:
        if body.choice == "granted":
            if body.disclosure_version is None:
                raise ApiError(
                    422,
                    "disclosure_required",
                    "say which disclosure version the owner read",
                    "disclosure_version",
                )
            shown = disclosures.shown(
                body.disclosure_version, body.disclosure_sha256, store.settings.policy
            )
            return consent_service.grant(store, owner.account_id, "api", shown)
        stop_shown = None
        if body.disclosure_version is not None:
            stop_shown = disclosures.get(body.disclosure_version, store.settings.policy)
        return consent_service.withdraw(store, owner.account_id, "api", stop_shown)
    except DisclosureError as exc:
        raise ApiError(409, "disclosure_changed", str(exc), "disclosure_version") from None
    except consent_service.ConsentError as exc:
        raise ApiError(409, "consent_unavailable", str(exc)) from None


@router.get("/consent/history", summary="Every consent change, with the text shown")
def consent_history(request: Request, owner: OwnerApi) -> list[ConsentEntry]:
    with store_of(request).db.read() as session:
        rows = session.scalars(
            select(ConsentChange)
            .where(ConsentChange.account_id == owner.account_id)
            .order_by(ConsentChange.changed_at, ConsentChange.id)
        ).all()
        return [
            ConsentEntry(
                at=row.changed_at.isoformat(),
                human_review=row.human_review,
                source=row.source,
                disclosure_version=row.disclosure_version,
                disclosure_sha256=row.disclosure_sha256,
            )
            for row in rows
        ]


@router.get("/recordings", summary="The account's recordings, newest first")
def recordings(
    request: Request, owner: OwnerApi, page: Annotated[int, Query(ge=1, le=100_000)] = 1
) -> RecordingPage:
    store = store_of(request)
    with store.db.read() as session:
        rows, total = list_recordings(session, store, owner.account_id, page, PAGE_SIZE)
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return RecordingPage(recordings=rows, page=page, pages=pages, total=total)


@router.get(
    "/recordings/{recording_id}",
    summary="What happened to one recording, and every human review of it",
    responses={404: {"model": ErrorBody, "description": "no such recording"}},
)
def recording(request: Request, owner: OwnerApi, recording_id: str) -> RecordingView:
    store = store_of(request)
    with store.db.read() as session:
        view = recording_view(session, store, owner.account_id, recording_id)
    if view is None:
        raise ApiError(404, "not_found", "no such recording in your account")
    return view


@router.get("/recordings/{recording_id}/audio", summary="The recording's audio (WAV)")
def audio(request: Request, owner: OwnerApi, recording_id: str) -> Response:
    return recording_audio(store_of(request), owner.account_id, recording_id, "api")


@router.get(
    "/recordings/{recording_id}/copies/{item_id}/audio",
    summary="What reviewers heard: the disguised, masked copy (WAV)",
)
def review_copy_audio(
    request: Request, owner: OwnerApi, recording_id: str, item_id: str
) -> Response:
    return copy_audio(store_of(request), owner.account_id, recording_id, item_id, "api")


@router.delete(
    "/recordings/{recording_id}",
    status_code=201,
    summary="Delete one recording; answers with the deletion receipt",
    responses={404: {"model": ErrorBody, "description": "no such recording"}},
)
def delete_one(
    request: Request, owner: OwnerApi, recording_id: str, csrf: CsrfToken = None
) -> Receipt:
    check_csrf(owner, csrf, api=True)
    try:
        return delete_recording(store_of(request), owner.account_id, recording_id, "api")
    except NotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except DeletionError as exc:
        raise ApiError(409, "cannot_delete", str(exc)) from None


@router.post(
    "/deletions",
    status_code=201,
    summary="Delete a date range or everything; answers with the deletion receipt",
    description="`everything` also destroys the account's data key, so copies in backups "
    "become unreadable. Under a legal hold the receipt says `held` and the deletion is "
    "carried out when the hold ends.",
)
def delete_many(
    request: Request, owner: OwnerApi, body: DeletionBody, csrf: CsrfToken = None
) -> Receipt:
    check_csrf(owner, csrf, api=True)
    store = store_of(request)
    try:
        if body.scope == "range":
            start, end = day_range(body.first_day or "", body.last_day or "")
            return delete_range(store, owner.account_id, start, end, "api")
        if not body.confirm:
            raise ApiError(422, "confirm_required", "set confirm to true", "confirm")
        return delete_everything(store, owner.account_id, "api")
    except DateError as exc:
        raise ApiError(422, "invalid_range", str(exc), "first_day") from None
    except DeletionError as exc:
        raise ApiError(409, "cannot_delete", str(exc)) from None


@router.get("/receipts", summary="Every deletion receipt of the account")
def list_receipts(request: Request, owner: OwnerApi) -> list[Receipt]:
    with store_of(request).db.read() as session:
        return receipts(session, owner.account_id)


@router.get(
    "/receipts/{receipt_id}",
    summary="One deletion receipt",
    responses={404: {"model": ErrorBody, "description": "no such receipt"}},
)
def one_receipt(request: Request, owner: OwnerApi, receipt_id: str) -> Receipt:
    with store_of(request).db.read() as session:
        found = receipt(session, owner.account_id, receipt_id)
    if found is None:
        raise ApiError(404, "not_found", "no such receipt in your account")
    return found


@router.get("/report", summary="The transparency report: counts per month")
def report(request: Request, owner: OwnerApi) -> TransparencyReport:
    store = store_of(request)
    with store.db.read() as session:
        return transparency_report(session, store, owner.account_id, utcnow())


@router.put("/retention", summary="How long raw recordings are kept")
def put_retention(
    request: Request, owner: OwnerApi, body: RetentionBody, csrf: CsrfToken = None
) -> dict[str, Any]:
    check_csrf(owner, csrf, api=True)
    store = store_of(request)
    try:
        done = set_raw_retention(store, owner.account_id, body.raw_retention, "api")
    except RetentionError as exc:
        raise ApiError(409, "cannot_change", str(exc), "raw_retention") from None
    return {
        "raw_retention": body.raw_retention,
        "in_words": retention_label(
            body.raw_retention, store.settings.policy.retention.raw_recordings_days
        ),
        "deleted_now": done.recordings,
    }


@router.get("/export", summary="A copy of all the account's data and audio (ZIP)")
def export(request: Request, owner: OwnerApi) -> Response:
    return export_response(store_of(request), owner, "api")
