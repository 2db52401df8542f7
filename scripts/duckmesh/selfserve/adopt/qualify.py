"""Private names: a project adopted into the mesh is installed together with the other
domains, and a name it uses for a private model, seed or snapshot may be another
domain's too. Inside the project a ``ref('x')`` still finds its own node first (dbt's
order, core/refs.py), but a unit test's ``input: ref('x')`` looks in every package, and
a name the root project also has is the root's. Adopt owns the copy, never the source:
it qualifies such refs there, ``ref('<domain>', 'x')``, and lists what it rewrote."""

from __future__ import annotations

import re
from pathlib import Path

from duckmesh.core import refs
from duckmesh.core.project import Mesh, relative
from duckmesh.governance import parse_checks


def qualify(text: str, name: str, domain: str) -> str:
    """Every unqualified ``ref('name'...)`` in ``text`` as ``ref('domain', 'name'...)``."""
    pattern = re.compile(rf"""\bref\(\s*(['"]){re.escape(name)}\1\s*(?=[,)])""")
    return pattern.sub(f"ref('{domain}', '{name}'", text)


def qualify_refs(mesh: Mesh, domain: str) -> tuple[list[str], list[str]]:
    """Rewrite the refs of domains/<domain> that dbt would resolve elsewhere or reject
    once the mesh installs it; (what was rewritten, the names it shares with others)."""
    packages = parse_checks.mesh_packages(mesh)
    index = parse_checks.ref_index(packages)
    own = next((p for p in packages if p.name == domain), None)
    if own is None:
        return [], []
    rewrites: dict[Path, set[str]] = {}
    for site in refs.sites(own.refs):
        resolution = index.resolve_site(site)
        mine = resolution.shadowed or next(
            (n for n in resolution.ambiguous if n.package == domain), None)
        if mine is not None and site.target_package is None:
            rewrites.setdefault(site.path, set()).add(site.name)
    done = []
    for path, names in sorted(rewrites.items()):
        text = path.read_text()
        for name in sorted(names):
            text = qualify(text, name, domain)
        path.write_text(text)
        done += [f"{relative(path, mesh.root)}: ref('{n}') -> ref('{domain}', '{n}')"
                 for n in sorted(names)]
    others: dict[str, list[str]] = {}
    for package in packages:
        for node in package.refs.nodes if package.name != domain else []:
            also = f"{node.kind} {node.package}.{node.name}"
            if also not in others.setdefault(node.name, []):
                others[node.name].append(also)
    shared = sorted({f"{n.kind} {n.name} (also {', '.join(others[n.name])})"
                     for n in own.refs.nodes if n.name in others and n.version is None
                     and "products" not in n.path.relative_to(own.folder).parts})
    return done, shared
