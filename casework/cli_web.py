"""`casework` commands for the web area (registered on the main group)."""

from casework.cli import main  # noqa: F401
