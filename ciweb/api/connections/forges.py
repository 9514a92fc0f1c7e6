"""The built-in webhook drivers: GitHub, GitLab, and Gitea (which Forgejo speaks too).

Each names the header that proves a delivery, the headers of the event type and of the
delivery id, and the headers kept with the event (never a credential):

- GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>``; ``X-GitHub-Event``;
  ``X-GitHub-Delivery``, kept by a redelivery.  (Zuul 14 checks the SHA-1 ``X-Hub-Signature``;
  GitHub recommends the SHA-256 one, which ciweb checks.)
- GitLab: ``X-Gitlab-Token: <the secret>``; ``X-Gitlab-Event``; ``Idempotency-Key`` (GitLab
  17.4 and later, the same on every retry), else ``X-Gitlab-Event-UUID``.
- Gitea: ``X-Gitea-Signature: <hex HMAC-SHA256 of the body>`` (Forgejo sends it as well as
  ``X-Forgejo-Signature``); ``X-Gitea-Event``; ``X-Gitea-Delivery``.
"""

from __future__ import annotations

from typing import ClassVar

from ciweb.api.connections.webhook import HmacSha256, SecretToken, Signature, WebhookConnection

__all__ = ["GiteaConnection", "GithubConnection", "GitlabConnection"]


class GithubConnection(WebhookConnection):
    """GitHub or GitHub Enterprise Server (``server = github.example.com``)."""

    default_server = "github.com"
    signature: ClassVar[Signature] = HmacSha256("X-Hub-Signature-256", prefix="sha256=")
    event_headers = ("X-GitHub-Event",)
    delivery_headers = ("X-GitHub-Delivery",)
    kept_headers = (
        "X-GitHub-Event",
        "X-GitHub-Delivery",
        "X-GitHub-Hook-ID",
        "X-GitHub-Hook-Installation-Target-ID",
        "X-GitHub-Hook-Installation-Target-Type",
        "User-Agent",
    )

    def default_baseurl(self) -> str:
        """Return GitHub's REST API URL, as Zuul's GitHub driver lists it."""
        if self.server == "github.com":
            return "https://api.github.com"
        return f"https://{self.server}/api/v3"


class GitlabConnection(WebhookConnection):
    """GitLab.com or a self-managed GitLab."""

    default_server = "gitlab.com"
    signature: ClassVar[Signature] = SecretToken("X-Gitlab-Token")
    event_headers = ("X-Gitlab-Event",)
    delivery_headers = ("Idempotency-Key", "X-Gitlab-Event-UUID")
    kept_headers = (
        "X-Gitlab-Event",
        "X-Gitlab-Event-UUID",
        "X-Gitlab-Webhook-UUID",
        "X-Gitlab-Instance",
        "Idempotency-Key",
        "User-Agent",
    )


class GiteaConnection(WebhookConnection):
    """Gitea, or Forgejo (Codeberg...), which sends Gitea's headers too."""

    default_server = "gitea.com"
    signature: ClassVar[Signature] = HmacSha256("X-Gitea-Signature", "X-Forgejo-Signature")
    event_headers = ("X-Gitea-Event", "X-Forgejo-Event")
    delivery_headers = ("X-Gitea-Delivery", "X-Forgejo-Delivery")
    kept_headers = (
        "X-Gitea-Event",
        "X-Gitea-Event-Type",
        "X-Gitea-Delivery",
        "X-Forgejo-Event",
        "X-Forgejo-Event-Type",
        "X-Forgejo-Delivery",
        "User-Agent",
    )
