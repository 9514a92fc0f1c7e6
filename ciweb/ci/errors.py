"""Domain errors of the CI store; the API layer maps them to HTTP status codes."""

from __future__ import annotations

__all__ = [
    "CIError",
    "Conflict",
    "NotFound",
    "NotMigrated",
    "QueryTimeout",
    "Unavailable",
    "ValidationError",
]


class CIError(Exception):
    """Base class of every error the CI domain raises on purpose."""


class NotFound(CIError):
    """The tenant or object does not exist (404); the message is Zuul's, e.g. "Unknown tenant"."""


class ValidationError(CIError, ValueError):
    """An input value is invalid (400); :attr:`field` names it."""

    def __init__(self, field: str, message: str) -> None:
        """Build the error.

        :param field: name of the offending field or query parameter.
        :param message: what is wrong with it.
        """
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Conflict(CIError):
    """The write contradicts stored data (409), e.g. a build for an unknown ref of a buildset."""


class NotMigrated(CIError):
    """The database schema is not at the head revision of the migrations."""


class QueryTimeout(CIError):
    """A heavy query ran longer than ``[database] statement_timeout`` (503)."""


class Unavailable(CIError):
    """The database cannot be reached, is shutting down or is too busy (503): retry later."""
