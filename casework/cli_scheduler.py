"""`casework` commands for the scheduler area (registered on the main group)."""

from casework.cli import main  # noqa: F401
