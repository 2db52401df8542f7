"""Domain boundaries: only products are visible across domains. dbt enforces access
(its own behaviour, not retested here) once a domain is configured for it: every domain
restricts access and defaults to private, with products public and contracted. The
platform's own check of a private ref, before dbt parses, is in test_first_hour.py."""

from __future__ import annotations

import yaml

from conftest import REPO


def test_every_domain_restricts_access_and_defaults_to_private() -> None:
    projects = sorted((REPO / "domains").glob("*/dbt_project.yml"))
    assert projects
    for project in projects:
        config = yaml.safe_load(project.read_text())
        name = config["name"]
        # dbt's default, protected, is visible to any project that installs the package
        assert config["restrict-access"] is True, name
        models = config["models"][name]
        assert models["+access"] == "private", name
        assert models["+group"] == name, name
        assert models["products"]["+access"] == "public", name
        assert models["products"]["+contract"] == {"enforced": True}, name

