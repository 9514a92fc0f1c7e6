"""Options: declarations, the generated sample, parsing errors and paste overrides."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from oslo_config import cfg

from ciweb import conf
from ciweb.conf import ConfigError, opts, server

ROOT = Path(__file__).resolve().parents[3]


def test_the_committed_sample_config_is_what_the_generator_produces(tmp_path: Path) -> None:
    out = tmp_path / "ciweb.conf"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "oslo_config.generator",
            "--config-file",
            str(ROOT / "etc/ciweb-config-generator.conf"),
            "--output-file",
            str(out),
        ],
        check=True,
        cwd=ROOT,
    )
    assert out.read_text() == (ROOT / "etc/ciweb.conf").read_text(), (
        "etc/ciweb.conf is stale: run `make sample-config`"
    )


def test_every_option_has_help_and_every_number_has_bounds() -> None:
    for group, group_opts in opts.list_opts():
        assert group.help, f"[{group.name}] has no help"
        for opt in group_opts:
            assert opt.help and len(opt.help) > 10, f"[{group.name}] {opt.name} has no help"
            if isinstance(opt, (cfg.IntOpt, cfg.FloatOpt)):
                assert opt.type.min is not None, f"[{group.name}] {opt.name} has no minimum"


def test_the_foundation_options_exist_with_their_defaults() -> None:
    c = conf.load([])
    assert c.server.bind_host == "127.0.0.1"
    assert c.server.bind_port == 9000
    assert c.ssl.min_version == "TLSv1.2"
    assert c.api.paste_config == "api-paste.ini"
    names = {opt.name for opt in server.OPTS}
    assert {
        "backlog",
        "pool_size",
        "max_request_line",
        "max_header_line",
        "max_header_fields",
        "max_header_size",
        "max_body_size",
        "header_timeout",
        "keepalive",
        "keepalive_timeout",
        "client_socket_timeout",
        "graceful_shutdown_timeout",
        "tcp_keepidle",
        "tcp_keepintvl",
        "tcp_keepcnt",
        "access_log_format",
    } <= names


def test_a_bad_value_in_a_config_file_is_an_error_naming_the_option(tmp_path: Path) -> None:
    path = tmp_path / "ciweb.conf"
    path.write_text("[server]\nbind_port = 99999\n")
    with pytest.raises(ConfigError, match=r"\[server\] bind_port"):
        conf.load(["--config-file", str(path)])


def test_ipv6_and_port_zero_are_valid_bind_options(tmp_path: Path) -> None:
    path = tmp_path / "ciweb.conf"
    path.write_text("[server]\nbind_host = ::1\nbind_port = 0\n")
    c = conf.load(["--config-file", str(path)])
    assert (c.server.bind_host, c.server.bind_port) == ("::1", 0)


def test_paste_options_take_the_config_file_then_the_local_key(tmp_path: Path) -> None:
    path = tmp_path / "ciweb.conf"
    path.write_text("[server]\nbacklog = 7\npool_size = 9\n")
    values = conf.paste_options(
        {"config_file": str(path)}, {"pool_size": "11"}, server.GROUP, server.OPTS
    )
    assert values["backlog"] == 7
    assert values["pool_size"] == 11
    assert values["keepalive"] is True


def test_paste_options_refuse_an_unknown_key_by_name() -> None:
    with pytest.raises(ConfigError, match=r"\[server\] unknown option 'poolsize'"):
        conf.paste_options({}, {"poolsize": "3"}, server.GROUP, server.OPTS)


def test_paste_options_refuse_a_bad_value_by_name() -> None:
    with pytest.raises(ConfigError, match=r"\[server\] backlog = '0'"):
        conf.paste_options({}, {"backlog": "0"}, server.GROUP, server.OPTS)


def test_importing_ciweb_registers_nothing_globally() -> None:
    # No module-level CONF: two loads are independent objects.
    assert conf.load([]) is not conf.load([])
    assert not hasattr(conf, "CONF")


def test_paste_options_read_every_config_file_later_ones_winning(tmp_path: Path) -> None:
    first, second = tmp_path / "a.conf", tmp_path / "b.conf"
    first.write_text("[server]\nbacklog = 7\npool_size = 9\n")
    second.write_text("[server]\nbacklog = 8\n")
    joined = os.pathsep.join([str(first), str(second)])
    values = conf.paste_options({"config_file": joined}, {}, server.GROUP, server.OPTS)
    assert (values["backlog"], values["pool_size"]) == (8, 9)
