"""Sharing beyond the repository: the object store and outside consumers (docs/sharing.md)."""
