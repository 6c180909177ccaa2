"""Domain errors raised by services and turned into pages or problem+json by the views."""

from __future__ import annotations


class DaybookError(Exception):
    """Base of every error a service raises on purpose."""


class ValidationError(DaybookError):
    """Input broke a rule; `fields` maps each field name to its message."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


class NotFound(DaybookError):
    """The row does not exist or belongs to someone else."""


class PermissionDenied(DaybookError):
    """The caller may not do this."""


class Conflict(DaybookError):
    """The row changed since the caller read it; `current` holds the saved version."""

    def __init__(self, message: str, current: object | None = None):
        super().__init__(message)
        self.current = current


class Throttled(DaybookError):
    """Too many attempts; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"Too many attempts. Try again in {retry_after} seconds.")
        self.retry_after = retry_after
