"""The `duckmesh` command: click groups whose commands are imported only when they run."""

from duckmesh.cli.root import main

__all__ = ["main"]
