from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from earmuff.store import Store
from earmuff.web import create_app


@pytest.fixture
def browser(store: Store) -> Iterator[TestClient]:
    """A client that talks HTTPS, as staff pages set Secure cookies."""
    with TestClient(create_app(store=store), base_url="https://testserver") as client:
        yield client
