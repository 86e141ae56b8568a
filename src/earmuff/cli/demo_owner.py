"""The demo's owner tour: a household signs in with a link and sees, stops and deletes.

Everything goes through the portal's JSON API over HTTP, as the company's app would use
it; the tour ends with a fresh sign-in link for the reader to open in a browser.
"""

from __future__ import annotations

import httpx
from rich.console import Console
from rich.table import Table

from earmuff.audit.verification import verify_workspace
from earmuff.owner.login import issue_login_link
from earmuff.store import Store
from earmuff.web import create_app
from earmuff.web.portal.session import COOKIE
from earmuff.web.server import BackgroundServer

LINK_MINUTES = 60


class OwnerClient:
    """An owner's app: signs in with a link, then sends the cookie and CSRF token itself.

    The cookie is Secure, so an HTTP client on plain http://127.0.0.1 would not send it
    back on its own (browsers do, for localhost): the demo does it explicitly.
    """

    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60)
        answer = self.http.post("/v1/owner/session", json={"token": token})
        answer.raise_for_status()
        self.headers = {
            "Cookie": f"{COOKIE}={answer.cookies[COOKIE]}",
            "X-CSRF-Token": answer.json()["csrf_token"],
        }

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path, headers=self.headers)

    def send(self, method: str, path: str, body: object | None = None) -> httpx.Response:
        return self.http.request(method, path, json=body, headers=self.headers)

    def close(self) -> None:
        self.http.close()


def _link(store: Store, account: str, minutes: int | None = None) -> str:
    with store.db.transaction() as session:
        token, _ = issue_login_link(
            session, account, store.settings.policy.owner, minutes=minutes, by="demo"
        )
    return token


def show_owner_side(
    store: Store, households: list[tuple[str, str, str, str]], root: str, console: Console
) -> None:
    console.rule("[bold]The owner's side")
    (jane_account, jane, _, _), (ravi_account, ravi, _, _) = households[0], households[1]
    with BackgroundServer(create_app(store=store)) as base_url:
        owner = OwnerClient(base_url, _link(store, jane_account))
        me = owner.get("/v1/owner/me").json()
        headline = me["review"]["headline"]
        console.print(f"{jane} signs in with a one-use link. First screen: [bold]{headline}")
        console.print(f"  {me['review']['explanation']}")
        _show_recordings(owner, jane, console)
        listing = owner.get("/v1/owner/recordings").json()["recordings"]
        if listing:
            first = listing[-1]["id"]
            receipt = owner.send("DELETE", f"/v1/owner/recordings/{first}").json()
            gone = receipt["deleted"]
            console.print(
                f"{jane} deletes her oldest recording: receipt {receipt['id'][:12]}…, "
                f"{gone['stored_files']} stored file(s) and {gone['review_copies']} review "
                f"cop{'y' if gone['review_copies'] == 1 else 'ies'} gone, "
                f"SHA-256 {receipt['sha256'][:16]}… (also in the audit log)"
            )
        report = owner.get("/v1/owner/report").json()["totals"]
        console.print(
            f"her transparency report: {report['recordings']} recordings, "
            f"{report['sent_for_review']} sent for review, {report['human_reviews']} human "
            f"reviews, {report['deleted_by_you']} deleted by her"
        )
        owner.close()

        other = OwnerClient(base_url, _link(store, ravi_account))
        stopped = other.send("PUT", "/v1/owner/consent", {"choice": "withdrawn"}).json()
        console.print(
            f"{ravi} switches human review off: {stopped['withdrawn']} recording(s) waiting "
            f"for review withdrawn and deleted at once; "
            + other.get("/v1/owner/me").json()["review"]["headline"]
        )
        other.close()
    with store.db.read() as session:
        verdict = verify_workspace(session, store.settings)
    console.print(f"audit log: {verdict.summary()}")
    link = _link(store, jane_account, LINK_MINUTES)
    console.print(
        f"\nSee {jane}'s portal yourself: run [bold]earmuff serve --workspace {root}[/bold] and "
        f"open this link within {LINK_MINUTES} minutes (it works once):"
    )
    console.print(f"http://127.0.0.1:8000/portal/sign-in?token={link}", soft_wrap=True)


def _show_recordings(owner: OwnerClient, name: str, console: Console) -> None:
    table = Table(title=f"{name}'s recordings, as her portal lists them")
    for column in ("when", "what happened", "chosen for review", "human reviews", "kept until"):
        table.add_column(column)
    for row in owner.get("/v1/owner/recordings").json()["recordings"]:
        table.add_row(
            row["captured_at"][:16].replace("T", " "),
            row["state"],
            "yes" if row["sampled"] else "no",
            str(row["human_reviews"]),
            (row["kept_until"] or "until she deletes it")[:10],
        )
    console.print(table)
