"""Webhook deliveries as GitHub, GitLab and Gitea/Forgejo send them, for the tests.

The payloads under ``tests/fixtures/webhooks/`` are small hand-written copies of the shapes
each forge documents for its push and pull/merge request events; :func:`delivery` adds the
headers the forge sends with them, signed with :data:`SECRET` the forge's way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import uuid
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "webhooks"
SECRET = "webhook-secret-of-the-tests"
FORGES = ("github", "gitlab", "gitea")
# forge -> kind -> (fixture, the forge's event header value)
EVENTS = {
    "github": {"push": ("github_push.json", "push"),
               "change": ("github_pull_request.json", "pull_request")},
    "gitlab": {"push": ("gitlab_push.json", "Push Hook"),
               "change": ("gitlab_merge_request.json", "Merge Request Hook")},
    "gitea": {"push": ("gitea_push.json", "push"),
              "change": ("gitea_pull_request.json", "pull_request")},
}  # fmt: skip
# The header that carries each forge's credential.
CREDENTIAL = {
    "github": "X-Hub-Signature-256",
    "gitlab": "X-Gitlab-Token",
    "gitea": "X-Gitea-Signature",
}


@dataclasses.dataclass
class Delivery:
    """One delivery: the forge, its event type, delivery id, headers and body."""

    forge: str
    event: str
    delivery: str
    headers: dict[str, str]
    body: bytes


def hex_hmac(secret: str, body: bytes) -> str:
    """Return the hex HMAC-SHA256 of *body* under *secret*."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery(
    forge: str, kind: str = "push", *, secret: str = SECRET, delivery_id: str | None = None
) -> Delivery:
    """Return a delivery of *forge*'s *kind* event (``push`` or ``change``), signed with
    *secret* as the forge signs it.

    :param forge: github, gitlab or gitea.
    :param kind: ``push``, or ``change`` for a pull or merge request.
    :param secret: the webhook's secret.
    :param delivery_id: the delivery id; a new UUID when None.
    """
    fixture, event = EVENTS[forge][kind]
    body = (FIXTURES / fixture).read_bytes()
    ident = delivery_id or str(uuid.uuid4())
    headers = {"Content-Type": "application/json"}
    if forge == "github":
        headers.update({
            "User-Agent": "GitHub-Hookshot/a1b2c3d",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": ident,
            "X-GitHub-Hook-ID": "292430182",
            "X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, "sha1").hexdigest(),
            "X-Hub-Signature-256": "sha256=" + hex_hmac(secret, body),
        })  # fmt: skip
    elif forge == "gitlab":
        headers.update({
            "User-Agent": "GitLab/17.11.0",
            "X-Gitlab-Event": event,
            "X-Gitlab-Instance": "https://gitlab.example.com",
            "X-Gitlab-Event-UUID": str(uuid.uuid4()),
            "Idempotency-Key": ident,
            "X-Gitlab-Token": secret,
        })  # fmt: skip
    else:
        headers.update({
            "User-Agent": "Go-http-client/1.1",
            "X-Gitea-Event": event,
            "X-Gitea-Event-Type": event,
            "X-Gitea-Delivery": ident,
            "X-Gitea-Signature": hex_hmac(secret, body),
            "X-Forgejo-Signature": hex_hmac(secret, body),
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": ident,
        })  # fmt: skip
    return Delivery(forge=forge, event=event, delivery=ident, headers=headers, body=body)


def conf_text(**extra: str) -> str:
    """Return the ``[connection ...]`` sections of the tests: one connection per forge,
    named after it, with :data:`SECRET` and tenant ``t`` (plus *extra* sections verbatim)."""
    sections = [
        f"[connection {forge}]\ndriver = {forge}\nwebhook_token = {SECRET}\ntenants = t\n"
        for forge in FORGES
    ]
    sections += [f"[{name}]\n{body}" for name, body in extra.items()]
    return "\n".join(sections)
