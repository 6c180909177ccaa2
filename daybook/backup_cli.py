"""CLI commands for backup, restore, export and import (filled in by the backup work)."""

from flask import Flask


def register(app: Flask) -> None:
    """Add backup, restore, export and import commands."""
