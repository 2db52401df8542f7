"""What governance still rejects in the adopted domain, and the numbered checklist the
command ends with: each line one exact command or one exact file edit."""

from __future__ import annotations

from dataclasses import dataclass

from duckmesh.core.project import Mesh
from duckmesh.selfserve.adopt.scratch import TestResult
from duckmesh.selfserve.contracts import TODO_MARKER, ProductSpec, is_todo

BUILD = "./duckmesh build --scale 0.01"
LINT = "./duckmesh lint domains/{domain}   (the mesh's SQL style; --fix applies sqlfluff's fixes)"


@dataclass(frozen=True)
class Gap:
    """One thing governance still rejects, and what to run or edit about it."""
    policy: str
    node: str  # unique_id, as governance names it
    column: str | None
    message: str
    fix: str
    severity: str = "error"
    step: str | None = None  # the checklist line (an edit or a command), when known

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.policy, self.node, self.column)

    def line(self) -> str:
        where = f"{self.node}, column {self.column}" if self.column else self.node
        return f"[{self.policy} {self.severity}] {where}: {self.message}\n    next: {self.fix}"


def own_gaps(domain: str, products: list[ProductSpec], owner: str | None,
             email: str | None, update_command: str) -> list[Gap]:
    """What the platform knows is missing, named the way governance names it."""
    gaps: list[Gap] = []
    if not owner or not email:
        gaps.append(Gap("P02", f"group.{domain}.{domain}", None,
                        f"group {domain} has no owner name and e-mail",
                        update_command, step=update_command))
    for spec in products:
        node = f"model.{domain}.{spec.name}.v1"
        yml = f"domains/{domain}/models/products/_{spec.name}.yml"
        sql = f"domains/{domain}/models/products/{spec.name}_v1.sql"
        if is_todo(spec.description):
            fix = f"write the description of {spec.name} in {yml}"
            gaps.append(Gap("P02", node, None,
                            f"public model {spec.name} v1 has no description ({TODO_MARKER!r})",
                            fix, step=f"edit {yml}: {fix.removesuffix(f' in {yml}')} "
                                      f"(marked '# {TODO_MARKER}')"))
        for column in spec.columns:
            if is_todo(column.description):
                fix = f"write the description of column {column.name} in {yml}"
                gaps.append(Gap("P02", node, column.name,
                                f"column {column.name} of public model {spec.name} v1 has no "
                                f"description ({TODO_MARKER!r})", fix,
                                step=f"edit {yml}: write the description of column "
                                     f"{column.name} (marked '# {TODO_MARKER}')"))
            if column.suggested_type and not column.cast_applied:
                fix = (f"cast {column.name} to {column.suggested_type} in {sql} and set its "
                       f"data_type in {yml} (v1 was never published: it may still change)")
                gaps.append(Gap("P05", node, column.name,
                                f"column {column.name} of {spec.name} v1 is {column.data_type}, "
                                f"and not every value casts to {column.suggested_type}", fix,
                                step=f"edit {sql} and {yml}: {fix.split(' (')[0]}"))
        if not spec.primary_key:
            fix = (f"add `constraints: [{{type: primary_key, columns: [<key>]}}]` to "
                   f"{spec.name} in {yml}")
            gaps.append(Gap("P07", node, None, f"product {spec.name} v1 has no primary key",
                            fix, step=f"edit {yml}: {fix.removesuffix(f' in {yml}')}"))
    return gaps


def governance_gaps(mesh: Mesh, domain: str) -> list[Gap]:
    """The governance check's violations for the domain."""
    from duckmesh.governance import report  # noqa: PLC0415 (runs dbt: imported when used)

    return [Gap(v.policy, v.node, v.column, v.message, v.fix, v.severity)
            for v in report.run_checks(mesh) if v.domain == domain]


def merge_gaps(checked: list[Gap], own: list[Gap]) -> list[Gap]:
    """Governance's findings (one source of truth), each with the platform's exact
    checklist step where it knows one; the platform's own only where governance says
    nothing about the same policy, node and column."""
    known = {gap.key: gap for gap in own}
    merged = []
    for gap in checked:
        mine = known.get(gap.key)
        fix = f"{mine.fix}  (or: {gap.fix})" if mine and mine.fix.startswith("./duckmesh ") \
            else gap.fix
        merged.append(Gap(gap.policy, gap.node, gap.column, gap.message, fix, gap.severity,
                          mine.step if mine else None))
    seen = {gap.key for gap in merged}
    merged += [gap for gap in own if gap.key not in seen]
    return sorted(merged, key=lambda g: (g.node, g.column or "", g.policy))


def test_steps(tests: list[TestResult], domain: str) -> list[str]:
    """One step per test of the project that fails (a warning builds): it is kept as it
    is, so the mesh build stops on it until the data or the test is fixed."""
    return [f"edit domains/{domain}/{t.file}: the project's test {t.name} fails ({t.message}); "
            "fix the data or the test, or give it `config: {severity: warn}` there"
            for t in tests if t.status in ("fail", "error")]


def checklist(gaps: list[Gap], domain: str, tests: list[TestResult] | None = None,
              error: str | None = None, retry: str = "") -> list[str]:
    """The numbered next steps: one edit or command per gap (the same edit once), one
    per failing test of the project, then the governance check while errors remain, or
    lint and the build once there are none. When adopt stopped: fix it, adopt again."""
    if error is not None:
        return [f"1. fix what stopped adopt (the error below), then: {retry}"]
    steps: list[str] = []
    errors = [g for g in gaps if g.severity == "error"]
    for gap in errors:
        step = gap.step or f"fix {gap.node}{f', column {gap.column}' if gap.column else ''}: " \
                           f"{gap.fix}"
        if step not in steps:
            steps.append(step)
    steps += test_steps(tests or [], domain)
    steps += [f"./duckmesh governance check   (until domain {domain} has 0 errors)"] if errors \
        else [LINT.format(domain=domain), BUILD]
    return [f"{number}. {step}" for number, step in enumerate(steps, start=1)]
