"""Governance: the report of the policies in macros/governance/, and SemVer classes of product changes."""
