"""The owner portal (``/portal``) and its JSON API (``/v1/owner``)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from earmuff.web.errors import error_response
from earmuff.web.portal import api, pages
from earmuff.web.portal.session import CsrfFailed, PortalHeaders, SignInRequired


def install(app: FastAPI) -> None:
    """Add the portal's routes, its error pages and its response headers to ``app``."""
    app.state.portal = pages.make_portal()
    app.include_router(pages.router)
    app.include_router(api.router)
    app.add_middleware(PortalHeaders)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        if exc.api:
            return error_response(401, "unauthenticated", str(exc))
        return pages.render(request, "sign_in.html", {"token": "", "needed": True}, None, 401)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        if exc.api:
            return error_response(
                403, "csrf_failed", "send this session's CSRF token in X-CSRF-Token"
            )
        return pages.render(request, "error.html", {"message": str(exc)}, None, 403)
