"""Tests of ciweb.api.connections: [connection <name>] groups of ciweb.conf become connections,
and every mistake stops start-up with an error naming the section and option."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ciweb.api.connections import (
    Connection,
    connection_list,
    connections_from_config_files,
    load_drivers,
)
from ciweb.api.connections.forges import GiteaConnection, GithubConnection, GitlabConnection
from ciweb.ci.engine import make_engine
from ciweb.ci.store import Store
from ciweb.conf import ConfigError
from ciweb.conf import connection as connection_conf
from tests.webhooks import SECRET, conf_text


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    store = Store(make_engine("sqlite://"))
    yield store
    store.engine.dispose()


def build(tmp_path: Path, store: Store, text: str, **kwargs) -> tuple[Connection, ...]:
    path = tmp_path / "ciweb.conf"
    path.write_text(text)
    return connections_from_config_files([str(path)], store=store, **kwargs)


def test_the_built_in_drivers_are_published_as_entry_points() -> None:
    assert load_drivers() == {
        "github": GithubConnection,
        "gitlab": GitlabConnection,
        "gitea": GiteaConnection,
    }


@pytest.mark.parametrize(
    ("section", "name"),
    [
        ("connection github", "github"),
        ('connection "github"', "github"),
        ("connection 'gh.example'", "gh.example"),
        ("connection_github", "github"),
        ("Connection  review", "review"),
        ("connection_name", None),  # the sample's placeholder
        ("connections", None),
        ("database", None),
        ("auth_ci", None),
    ],
)
def test_which_sections_configure_a_connection(section: str, name: str | None) -> None:
    assert connection_conf.connection_name(section) == name


def test_each_forge_gets_zuuls_defaults_listed_in_zuuls_shape(tmp_path, store) -> None:
    connections = build(tmp_path, store, conf_text())
    assert connection_list(connections) == [
        {"name": "gitea", "driver": "gitea", "baseurl": "https://gitea.com",
         "canonical_hostname": "gitea.com", "server": "gitea.com"},
        {"name": "github", "driver": "github", "baseurl": "https://api.github.com",
         "canonical_hostname": "github.com", "server": "github.com"},
        {"name": "gitlab", "driver": "gitlab", "baseurl": "https://gitlab.com",
         "canonical_hostname": "gitlab.com", "server": "gitlab.com"},
    ]  # fmt: skip


def test_a_github_enterprise_server_has_its_api_under_api_v3(tmp_path, store) -> None:
    [conn] = build(
        tmp_path, store,
        "[connection_ghe]\ndriver = github\nserver = github.example.com\n"
        f"canonical_hostname = git.example.com\nwebhook_token = {SECRET}\n",
    )  # fmt: skip
    assert conn.to_dict() == {
        "name": "ghe", "driver": "github", "baseurl": "https://github.example.com/api/v3",
        "canonical_hostname": "git.example.com", "server": "github.example.com",
    }  # fmt: skip


def test_the_secret_can_live_in_a_file_whose_trailing_newline_is_dropped(tmp_path, store) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cret value\n")
    [conn] = build(
        tmp_path, store, f"[connection gl]\ndriver = gitlab\nwebhook_token_file = {secret_file}\n"
    )
    assert conn.secret == b"s3cret value"  # type: ignore[attr-defined]


def test_no_connection_sections_means_no_connections(tmp_path, store) -> None:
    assert build(tmp_path, store, "[database]\nconnection =\n[connection_name]\n") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[connection x]\nwebhook_token = s\n", r"\[connection x\] driver: is required"),
        ("[connection x]\ndriver = bitbucket\n",
         r"\[connection x\] driver: unknown driver 'bitbucket' \(known: gitea, github, gitlab\)"),
        ("[connection x]\ndriver = github\n",
         r"\[connection x\] webhook_token: is required \(or webhook_token_file\)"),
        ("[connection x]\ndriver = github\nwebhook_token = a\nwebhook_token_file = /etc/x\n",
         r"\[connection x\] webhook_token_file: give it or webhook_token, not both"),
        ("[connection x]\ndriver = gitea\nwebhook_token_file = /nonexistent/secret\n",
         r"\[connection x\] webhook_token_file: /nonexistent/secret: No such file"),
        ("[connection x]\ndriver = github\nwebhook_token = s\nmax_body_size = 12\n",
         r"\[connection x\] max_body_size: .*greater than or equal to 1024"),
        ("[connection x]\ndriver = github\nwebhook_token = s\nmax_body_size = lots\n",
         r"\[connection x\] max_body_size: .*lots"),
        ("[connection a/b]\ndriver = github\nwebhook_token = s\n",
         r"\[connection a/b\] 'a/b' is not a connection name"),
        ("[connection x]\ndriver = github\nwebhook_token = s\n"
         "[connection_x]\ndriver = gitlab\nwebhook_token = s\n",
         r"connection x is configured in \[connection x\] too"),
        ("[connection_name]\ndriver = github\n",
         r"\[connection_name\] driver: .*placeholder.*rename the section"),
    ],
)  # fmt: skip
def test_a_bad_connection_stops_start_up_naming_the_option(
    tmp_path: Path, store: Store, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        build(tmp_path, store, text)


def test_an_empty_secret_file_is_refused(tmp_path, store) -> None:
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match=r"\[connection x\] webhook_token_file: .*empty is empty"):
        build(
            tmp_path,
            store,
            f"[connection x]\ndriver = gitea\nwebhook_token_file = {tmp_path / 'empty'}\n",
        )


def test_a_package_adds_a_driver_with_options_of_its_own(tmp_path, store) -> None:
    from oslo_config import cfg

    class Mirror(Connection):
        opts = (*connection_conf.OPTS, cfg.StrOpt("mirror_url", default=""))

        def __init__(self, name, options, **kwargs) -> None:
            super().__init__(name, options, **kwargs)
            self.mirror_url = options["mirror_url"]

    [conn] = build(
        tmp_path, store, "[connection m]\ndriver = mirror\nmirror_url = https://m.example\n",
        drivers={"mirror": Mirror},
    )  # fmt: skip
    assert isinstance(conn, Mirror) and conn.mirror_url == "https://m.example"
    assert conn.web_routes() == ()
    assert conn.to_dict()["driver"] == "mirror"


def test_an_unreadable_config_file_names_itself(tmp_path, store) -> None:
    with pytest.raises(ConfigError, match=r"ciweb\.conf"):
        build(tmp_path, store, "[connection x\ndriver = github\n")
