"""The cache filter's policy language: ``PATTERN CACHE-CONTROL[; ttl=SECONDS][; shareable]``.

:class:`Policy` parses one route's policy and checks its Cache-Control directives
(RFC 9111 §5.2.2, RFC 5861, RFC 8246); :class:`PolicyTable` compiles a filter's policies
into one expression matched against the request path, first match winning.  This is not
a filter: :mod:`ciweb.middleware.cache` applies the policies.  It is a module of its own
because parsing configuration and serving requests change for different reasons, and
together they outgrew one module.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping

from ciweb.conf import ConfigError

__all__ = ["Policy", "PolicyTable"]

# Cache-Control response directives (RFC 9111 §5.2.2, RFC 5861, RFC 8246): those with a
# delta-seconds argument, and those without.
_DELTA_DIRECTIVES = frozenset({"max-age", "s-maxage", "stale-while-revalidate", "stale-if-error"})
_FLAG_DIRECTIVES = frozenset(
    {
        "public",
        "private",
        "no-cache",
        "no-store",
        "must-revalidate",
        "proxy-revalidate",
        "must-understand",
        "no-transform",
        "immutable",
    }
)


class Policy:
    """One route's caching policy, parsed from ``PATTERN DIRECTIVES[; ttl=N][; shareable]``."""

    __slots__ = ("authorized", "header", "name", "no_store", "pattern", "shareable", "stale", "ttl")

    def __init__(self, name: str, spec: str) -> None:
        """Parse *spec*.

        :param name: the key the policy came from, named in errors.
        :param spec: the policy text.
        :raises ConfigError: naming *name* and the fault.
        """
        self.name = name
        head, *extras = [part.strip() for part in spec.split(";")]
        pattern, _, directives = head.partition(" ")
        if not pattern.startswith("/"):
            raise ConfigError(f"[cache] {name}: pattern {pattern!r} must start with /")
        self.pattern = _pattern_regex(name, pattern)
        seen = self._directives(directives)
        self.header = ("Cache-Control", ", ".join(d.strip() for d in directives.split(",")))
        self.no_store = "no-store" in seen
        self.stale = float(seen.get("stale-while-revalidate") or 0)
        self.ttl = 0.0
        self.shareable = False
        for extra in extras:
            key, _, value = extra.partition("=")
            if key.strip() == "ttl":
                try:
                    self.ttl = float(value)
                except ValueError:
                    raise ConfigError(f"[cache] {name}: ttl must be seconds") from None
                if not 0 <= self.ttl <= 86400:
                    raise ConfigError(f"[cache] {name}: ttl must be between 0 and 86400")
            elif extra == "shareable":
                self.shareable = True
            else:
                raise ConfigError(f"[cache] {name}: unknown setting {extra!r}")
        if self.ttl and (self.no_store or ("private" in seen and not self.shareable)):
            raise ConfigError(
                f"[cache] {name}: ttl with no-store, or with private unless shareable, would "
                "share a response that must not be shared"
            )
        self.authorized = self
        if "public" in seen and not self.shareable:
            # RFC 9111 §3.5: "public" lets shared caches store the answer to a request with
            # Authorization; unless the route is shareable, such answers say "private".
            self.authorized = copy.copy(self)
            self.authorized.header = (
                "Cache-Control",
                ", ".join(
                    "private" if d.strip().lower() == "public" else d.strip()
                    for d in directives.split(",")
                ),
            )
            self.authorized.authorized = self.authorized

    def _directives(self, text: str) -> dict[str, str | None]:
        seen: dict[str, str | None] = {}
        for item in text.split(","):
            directive, eq, value = item.strip().partition("=")
            directive = directive.lower()
            if directive not in _DELTA_DIRECTIVES and directive not in _FLAG_DIRECTIVES:
                raise ConfigError(f"[cache] {self.name}: unknown directive {item.strip()!r}")
            if (directive in _DELTA_DIRECTIVES) != bool(eq) or (eq and not value.isdigit()):
                raise ConfigError(f"[cache] {self.name}: bad directive {item.strip()!r}")
            seen[directive] = value or None
        if "public" in seen and "private" in seen:
            raise ConfigError(f"[cache] {self.name}: public and private exclude each other")
        return seen


def _pattern_regex(name: str, pattern: str) -> str:
    """Translate a path pattern: ``{x}`` or ``*`` is one segment, a final ``/**`` the rest."""
    segments = pattern[1:].split("/")
    out = []
    for i, seg in enumerate(segments):
        if seg == "**":
            if i != len(segments) - 1:
                raise ConfigError(f"[cache] {name}: ** must be the last segment")
            out.append("(?:/.*)?")
        elif seg == "*" or (seg.startswith("{") and seg.endswith("}") and len(seg) > 2):
            out.append("/[^/]+")
        elif "{" in seg or "}" in seg or "*" in seg:
            raise ConfigError(f"[cache] {name}: bad segment {seg!r} in {pattern!r}")
        else:
            out.append("/" + re.escape(seg))
    return "".join(out)


class PolicyTable:
    """The policies of one filter, matched against a path by one compiled expression."""

    def __init__(self, named: Mapping[str, str]) -> None:
        """Parse and compile *named* policies, in order.

        :param named: ``{name: spec}``; the first policy whose pattern matches wins.
        :raises ConfigError: naming a bad policy.
        """
        self._policies = [Policy(name, spec) for name, spec in named.items()]
        alternatives = "|".join(f"(?P<p{i}>{p.pattern})" for i, p in enumerate(self._policies))
        self._by_group = {f"p{i}": p for i, p in enumerate(self._policies)}
        self._match = re.compile(f"(?:{alternatives})\\Z").match if self._policies else None

    def match(self, path: str) -> Policy | None:
        """Return the first policy whose pattern matches all of *path*, or None."""
        if self._match is None:
            return None
        m = self._match(path)
        return None if m is None else self._by_group[m.lastgroup or ""]
