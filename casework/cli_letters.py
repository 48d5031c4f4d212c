"""`casework` commands for the letters area (registered on the main group)."""

from casework.cli import main  # noqa: F401
