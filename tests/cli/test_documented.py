"""Every command of the `daybook` script is documented for users."""

from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[2]


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            names += _commands(command, f"{prefix}{name} ")
        else:
            names.append(f"{prefix}{name}")
    return names


def test_every_cli_command_is_documented(app):
    docs = "\n".join(p.read_text() for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
    ours = [c for c in _commands(app.cli) if not c.startswith(("db ", "session_cleanup"))]
    assert "user create" in ours and "backup" in ours
    missing = [c for c in ours if f"daybook {c}" not in docs]
    assert missing == [], f"undocumented commands: {missing}"
