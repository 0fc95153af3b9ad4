"""Run the ``writ`` CLI, adding ``approve``/``approvals`` if cli/__init__ does not register them yet."""

from __future__ import annotations

from writ.cli import app, main
from writ.cli._approve import register

if not any(group.name == "approvals" for group in app.registered_groups):
    register(app)
main()
