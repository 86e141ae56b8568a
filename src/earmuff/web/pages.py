"""Rendering a staff page: the signed-in person in the context, and never cached."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from earmuff.web.staff_auth import Staff


def render(
    request: Request, name: str, staff: Staff | None, status: int = 200, **context: object
) -> HTMLResponse:
    """Template ``name`` with ``staff`` and ``context``; ``no-store``, as staff pages show
    transcripts and case notes that must not linger in a browser cache."""
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, name, {"staff": staff, **context}, status_code=status
    )
    response.headers["Cache-Control"] = "no-store"
    return response
