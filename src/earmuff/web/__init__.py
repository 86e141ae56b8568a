"""The HTTP API and pages."""

from earmuff.web.app import create_app

__all__ = ["create_app"]
