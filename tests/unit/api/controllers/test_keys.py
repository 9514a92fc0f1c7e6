"""Tests of ciweb.api.controllers.keys: public keys as text/plain."""

from __future__ import annotations

from ciweb.middleware.faults import Faults
from tests.unit.api.helpers import OTHER, T, error_of, get


def test_the_secrets_key_is_pem_text(app: Faults) -> None:
    response = get(app, f"{T}/key/example/project1.pub")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain"
    assert response.text.startswith("-----BEGIN PUBLIC KEY-----")
    assert "PRIVATE" not in response.text


def test_the_ssh_key_is_an_openssh_line(app: Faults) -> None:
    response = get(app, f"{T}/project-ssh-key/review.example.org/example/project1.pub")
    assert response.headers["Content-Type"] == "text/plain"
    assert response.text.startswith("ssh-rsa AAAA")
    assert response.text.endswith("\n")


def test_keys_of_unknown_projects_or_projects_without_keys_are_404(app: Faults) -> None:
    assert error_of(get(app, f"{T}/key/nope.pub")) == "Unknown project"
    response = get(app, f"/api/tenant/{OTHER}/key/other/project.pub")
    assert response.status_code == 404
    assert error_of(get(app, "/api/tenant/nope/key/x.pub")) == "Unknown tenant"
