"""Options of the ``[cache]`` group: per-route HTTP caching policy and the response cache."""

from __future__ import annotations

from oslo_config import cfg

GROUP = cfg.OptGroup(
    "cache",
    title="HTTP caching",
    help="The cache filter: Cache-Control per route, ETag and Last-Modified, conditional "
    "requests, and a short-lived in-process cache of GET responses.",
)

OPTS = [
    cfg.MultiStrOpt(
        "policies",
        default=[],
        help="One route policy per value: 'PATTERN DIRECTIVES[; ttl=SECONDS][; shareable]'. "
        "PATTERN is a path where {name} or * matches one segment and a final /** the rest; "
        "DIRECTIVES is the Cache-Control value sent on 2xx responses (max-age, s-maxage, "
        "public, private, no-cache, no-store, must-revalidate, immutable, "
        "stale-while-revalidate, ...); ttl keeps GET responses in this process for that "
        "many seconds; shareable lets requests with Authorization use that cache. The "
        "first matching pattern wins. In a paste [filter:cache] section, write each policy "
        "as its own key named policy.<name>; any such key replaces this whole list.",
    ),
    cfg.IntOpt(
        "max_entries",
        default=1000,
        min=0,
        max=10000000,
        help="Most responses kept in the in-process cache; the least recently used go "
        "first. 0 disables it (headers and conditional requests still work).",
    ),
    cfg.IntOpt(
        "max_bytes",
        default=64 * 1024 * 1024,
        min=0,
        max=2**40,
        help="Most body bytes kept in the in-process cache, all entries together.",
    ),
    cfg.IntOpt(
        "max_entry_bytes",
        default=4 * 1024 * 1024,
        min=0,
        max=2**36,
        help="Largest body, in bytes, that is buffered to compute an ETag and may be "
        "cached; a larger body is streamed through without ETag and never stored.",
    ),
    cfg.FloatOpt(
        "fill_timeout",
        default=5.0,
        min=0.0,
        max=600.0,
        help="Seconds a request waits for another request that is filling the same "
        "expired cache entry; after that it calls the application itself (uncached).",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the ``[cache]`` options on *conf*."""
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Return the ``[cache]`` options for oslo-config-generator."""
    return [(GROUP, OPTS)]
