"""The enrolment page: a person sets their own password and authenticator.

Public, as the person has no account yet: the link's token is the credential, and the
approval code (held by the approving admin, never by the one with the link) is the
second half of it. Only once both are right is the QR code of the new TOTP secret
shown, so whoever holds the link alone learns nothing. No CSRF token: a forged form
would need the link's token, and whoever has that and the code is the person.

Wrong approval codes count on the enrolment itself: the fifth burns the link.
"""

from __future__ import annotations

import io
from typing import Annotated

import segno
from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from earmuff.review.enrolment import (
    EnrolmentGone,
    WrongApprovalCode,
    check_approval_code,
    complete,
    enrolment_secret,
    open_enrolment,
)
from earmuff.store.models import StaffEnrolment, utcnow
from earmuff.store.staff import MIN_PASSWORD_LENGTH, StaffError, totp_uri
from earmuff.web.pages import render

router = APIRouter(include_in_schema=False)
PAGE = "staff/enrol.html"


def qr_svg(text: str) -> Markup:
    """``text`` as an inline SVG QR code, drawn on the server: the CSP allows no
    scripts that could draw it, and no image request carries the secret anywhere."""
    buffer = io.BytesIO()
    segno.make(text, error="m").save(
        buffer,
        kind="svg",
        xmldecl=False,
        svgns=True,
        scale=5,
        border=4,
        title="QR code for your authenticator app",
        svgclass="qr",
    )
    return Markup(buffer.getvalue().decode())  # noqa: S704 - segno's SVG; its title is a constant


def _gone(request: Request, exc: EnrolmentGone) -> HTMLResponse:
    return render(request, PAGE, None, 410 if exc.known else 404, gone=str(exc))


def _setup(
    request: Request,
    enrolment: StaffEnrolment,
    approval_code: str,
    status: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    """The second step: the QR code, the password fields and the confirming code."""
    store = request.app.state.store
    secret = enrolment_secret(store.keyring, enrolment)
    return render(
        request,
        PAGE,
        None,
        status,
        step="setup",
        username=enrolment.username,
        role=enrolment.role,
        reset=enrolment.kind == "reset",
        approval_code=approval_code,
        qr=qr_svg(totp_uri(enrolment.username, secret)),
        secret=secret,
        min_length=MIN_PASSWORD_LENGTH,
        error=error,
    )


@router.get("/enrol/{token}", response_class=HTMLResponse)
def enrol_page(request: Request, token: str) -> Response:
    with request.app.state.store.db.read() as session:
        try:
            enrolment = open_enrolment(session, token, utcnow())
        except EnrolmentGone as exc:
            return _gone(request, exc)
        username = enrolment.username
    return render(request, PAGE, None, step="code", username=username)


@router.post("/enrol/{token}", response_class=HTMLResponse)
def enrol(
    request: Request,
    token: str,
    approval_code: Annotated[str, Form(max_length=32)],
    password: Annotated[str | None, Form(max_length=1024)] = None,
    password_again: Annotated[str | None, Form(max_length=1024)] = None,
    code: Annotated[str | None, Form(max_length=16)] = None,
) -> Response:
    """Both steps post here: the approval code alone, then everything. The code is
    checked again with the second step, as the page between them keeps no state."""
    store = request.app.state.store
    now = utcnow()
    refusal: StaffError | None = None
    username = ""
    with store.db.transaction() as session:
        try:
            enrolment = open_enrolment(session, token, now, lock=True)
            username = enrolment.username
            check_approval_code(session, enrolment, approval_code, now)
            if password is None or password_again is None or code is None:
                return _setup(request, enrolment, approval_code)
            complete(session, store.keyring, enrolment, password, password_again, code, now)
        except EnrolmentGone as exc:
            return _gone(request, exc)
        except WrongApprovalCode as exc:
            refusal = exc
        except StaffError as exc:
            return _setup(request, enrolment, approval_code, 422, error=str(exc).capitalize())
    if isinstance(refusal, WrongApprovalCode):
        if refusal.burned:
            return render(request, PAGE, None, 410, gone=str(refusal).capitalize() + ".")
        error = str(refusal).capitalize() + "."
        return render(request, PAGE, None, 403, step="code", username=username, error=error)
    return render(request, PAGE, None, step="done", username=username)
