"""Options of the ``[server]`` group: the listening socket and the HTTP front end."""

from __future__ import annotations

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "server",
    title="HTTP server",
    help="The eventlet HTTP server: socket, green pool, request limits, deadlines and keep-alive.",
)

# Limits are "the smallest size refused": a request line of max_request_line - 1 bytes passes,
# one of max_request_line bytes is refused.  Sizes of lines count the terminating CRLF.
OPTS: list[cfg.Opt] = [
    cfg.HostAddressOpt(
        "bind_host",
        default="127.0.0.1",
        help="Address to listen on: an IPv4 or IPv6 address or a host name. Use 0.0.0.0 "
        "or :: for every interface.",
    ),
    cfg.PortOpt(
        "bind_port",
        default=9000,
        help="TCP port to listen on; 0 asks the OS for any free port (the port chosen is logged).",
    ),
    cfg.IntOpt(
        "backlog",
        default=128,
        min=1,
        max=65535,
        help="Length of the listen queue of the listening socket.",
    ),
    cfg.IntOpt(
        "pool_size",
        default=1000,
        min=1,
        max=100000,
        help="Number of green threads, hence of client connections (idle keep-alive ones "
        "included) open at once in one worker. When the pool is full, a new client takes the "
        "slot of one connection that waits on its client: the oldest request head arriving "
        "for over a second, else the oldest idle keep-alive connection (closed), else the "
        "oldest request head; a head is set aside, unread, and answered 408 at its deadline. "
        "Connections with a request in progress keep their slot; when every slot has one, new "
        "connections wait. An idle connection costs about 24 KiB of memory and a file "
        "descriptor. (nova: wsgi_default_pool_size)",
    ),
    cfg.IntOpt(
        "max_request_line",
        default=8192,
        min=64,
        max=1048576,
        help="Smallest request line, in bytes with its CRLF, that is refused with "
        "414 URI Too Long.",
    ),
    cfg.IntOpt(
        "max_header_line",
        default=16384,
        min=64,
        max=1048576,
        help="Smallest header field line, in bytes with its CRLF, that is refused with "
        "431 Request Header Fields Too Large. (nova: max_header_line)",
    ),
    cfg.IntOpt(
        "max_header_fields",
        default=100,
        min=1,
        max=10000,
        help="Smallest number of header fields in one request that is refused with 431.",
    ),
    cfg.IntOpt(
        "max_header_size",
        default=65536,
        min=64,
        max=16777216,
        help="Smallest total size of the header fields of one request, in bytes with their "
        "CRLFs, that is refused with 431.",
    ),
    cfg.IntOpt(
        "max_body_size",
        default=16777216,
        min=0,
        help="Smallest request body, in bytes, that is refused with 413 Content Too Large "
        "(checked on Content-Length before the application runs, and while a chunked body "
        "is read). 0 means no limit at the server.",
    ),
    cfg.FloatOpt(
        "header_timeout",
        default=10.0,
        min=0.1,
        max=3600.0,
        help="Deadline in seconds for receiving a whole request head (request line and "
        "header fields, and the TLS handshake of a new connection), counted from the "
        "first byte of the request (from the accept for a new connection). A slower "
        "client is disconnected; this is what stops slowloris.",
    ),
    cfg.FloatOpt(
        "client_socket_timeout",
        default=900.0,
        min=0.1,
        help="Timeout in seconds of each read or write on a client socket while a request "
        "body is read or a response is written. (nova: client_socket_timeout)",
    ),
    cfg.BoolOpt(
        "keepalive",
        default=True,
        help="Keep HTTP/1.1 connections open between requests. If false, every response "
        "closes its connection. (nova: wsgi_keep_alive)",
    ),
    cfg.FloatOpt(
        "keepalive_timeout",
        default=5.0,
        min=0.1,
        max=3600.0,
        help="Seconds an idle keep-alive connection may wait for its next request before "
        "the server closes it.",
    ),
    cfg.FloatOpt(
        "graceful_shutdown_timeout",
        default=30.0,
        min=0.0,
        help="On a graceful stop, seconds to let in-flight requests finish after the "
        "listening socket is closed; connections still busy after that are cut.",
    ),
    cfg.IntOpt(
        "tcp_keepidle",
        default=600,
        min=1,
        max=32767,
        help="TCP_KEEPIDLE: seconds a connection is idle before TCP keepalive probes start. "
        "Ignored where the OS has no such option. (nova: tcp_keepidle)",
    ),
    cfg.IntOpt(
        "tcp_keepintvl",
        default=60,
        min=1,
        max=32767,
        help="TCP_KEEPINTVL: seconds between TCP keepalive probes, where the OS has it.",
    ),
    cfg.IntOpt(
        "tcp_keepcnt",
        default=9,
        min=1,
        max=127,
        help="TCP_KEEPCNT: unanswered probes before TCP drops the connection, where the OS has it.",
    ),
    cfg.ListOpt(
        "json_error_prefixes",
        default=["/api"],
        help="Path prefixes (whole segments) under which the errors the server answers by "
        "itself, before or instead of the application (a malformed or oversized request, a "
        "head too slow, an application that failed without an answer), are JSON "
        '{"error": ..., "description": ...} rather than a line of plain text. "/" means '
        "every path; empty: always plain text.",
    ),
    cfg.BoolOpt(
        "access_log",
        default=True,
        help="Log one line per request to the ciweb.access logger. Requests that pass "
        "through the access_log filter are not logged again by the server.",
    ),
    cfg.StrOpt(
        "access_log_format",
        default='%(client_ip)s "%(request_line)s" status: %(status_code)s '
        "len: %(body_length)s time: %(wall_seconds).7f",
        help="Format of the server's access log line. Keys: client_ip, client_port, "
        "date_time, request_line, status_code, body_length, wall_seconds. "
        "(nova: wsgi_log_format)",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the ``[server]`` options on *conf*."""
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Return the ``[server]`` options for oslo-config-generator."""
    return [(GROUP, OPTS)]
