"""Server-rendered pages: one Jinja2 environment, autoescaping on, shared by every part."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def make_templates() -> Jinja2Templates:
    return Jinja2Templates(directory=TEMPLATES)
