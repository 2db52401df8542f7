"""Standard lineage out: the catalog's product and column lineage as OpenLineage events.

A build emits one run of the job ``duckmesh.build`` and, for each product version dbt
built in it, one run of the job ``<domain>.<product>_v<N>`` (its parent the build's run):
a START and a COMPLETE (or FAIL) event whose inputs are the product's input ports
(sources, seeds and other domains' products, looked through private models, as the
catalog lists them) and whose output is the product's relation, with its schema, its
column lineage, its owner and its description. Private models never appear.

Where the events go is the OpenLineage client's own configuration (``OPENLINEAGE_URL``,
``OPENLINEAGE_CONFIG`` or ``openlineage.yml``: HTTP to Marquez, DataHub, OpenMetadata);
without one, they are written as JSON lines to ``target/openlineage/<run id>.jsonl``.
A build emits when ``DUCKMESH_OPENLINEAGE=1`` (or a client configuration) is set;
``duckmesh catalog openlineage`` emits the last build's events on demand. The client
is the optional ``lineage`` extra (``make lineage``). docs/lineage.md.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from duckmesh.catalog.descriptor import Port, ProductRecord
from duckmesh.core.project import Mesh, MeshError, relative

if TYPE_CHECKING:
    from openlineage.client.event_v2 import OutputDataset, RunEvent

    from duckmesh.catalog.model import Catalog

INSTALL = "make lineage (or pip install -e '.[lineage]')"
NAMESPACE = "duckmesh"  # the jobs' namespace; DUCKMESH_OPENLINEAGE_NAMESPACE overrides
PRODUCER = "urn:duckmesh:platform"
BUILD_JOB = "duckmesh.build"
CLIENT_SETTINGS = ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "OPENLINEAGE__TRANSPORT__TYPE")


@dataclass(frozen=True)
class Emitted:
    events: int
    products: int
    where: str


def enabled() -> bool:
    """Whether a build emits: DUCKMESH_OPENLINEAGE set (not 0), or the client configured."""
    flag = os.environ.get("DUCKMESH_OPENLINEAGE", "").strip().lower()
    if flag in ("0", "false", "no", "off"):
        return False
    return bool(flag) or any(os.environ.get(name) for name in CLIENT_SETTINGS)


def _dataset_of(port: Port, namespace: str) -> tuple[str, str]:
    """(namespace, name) of an input port: products and seeds are relations of the mesh,
    file sources their path under the data folder, a legacy table its database's."""
    if port.kind == "source" and port.relation.startswith("$DUCKMESH_DATA/"):
        return "file", port.relation.removeprefix("$DUCKMESH_DATA/")
    legacy = re.fullmatch(r"(\w+):(\S+) \(\$(\w+)\)", port.relation)
    if port.kind == "source" and legacy:  # OpenLineage's naming: postgres://host:port, db.schema.table
        plugin, table, dsn_env = legacy.groups()
        dsn = urlsplit(os.environ.get(dsn_env, ""))
        if dsn.hostname:
            return (f"{plugin}://{dsn.hostname}:{dsn.port or 5432}",
                    f"{dsn.path.strip('/')}.{table}")
        return plugin, table
    return namespace, port.relation


def _time(stamp: str | None) -> str:
    return stamp or datetime.now(UTC).isoformat()


def events(catalog: Catalog, run_results: dict | None, namespace: str = NAMESPACE,
           build_run: str | None = None) -> list[RunEvent]:
    """The events of one build: its own START and COMPLETE around each built product's."""
    try:
        from openlineage.client.event_v2 import Job, Run, RunEvent, RunState  # noqa: PLC0415
        from openlineage.client.facet_v2 import parent_run  # noqa: PLC0415
        from openlineage.client.uuid import generate_new_uuid  # noqa: PLC0415
    except ImportError as error:
        raise MeshError(f"OpenLineage events need the OpenLineage client: {INSTALL}") from error
    results = {r["unique_id"]: r for r in (run_results or {}).get("results", [])}
    build_run = build_run or str(generate_new_uuid())
    started = [t.get("started_at") for r in results.values() for t in r.get("timing", [])]
    ended = [t.get("completed_at") for r in results.values() for t in r.get("timing", [])]
    build_job = Job(namespace=namespace, name=BUILD_JOB)
    parent = parent_run.ParentRunFacet(
        run=parent_run.Run(runId=build_run), job=parent_run.Job(namespace=namespace,
                                                                name=BUILD_JOB))
    out: list[RunEvent] = [RunEvent(eventType=RunState.START,
                                    eventTime=_time(min(filter(None, started), default=None)),
                                    run=Run(runId=build_run), job=build_job,
                                    producer=PRODUCER)]
    failed = False
    for record in catalog.records:
        result = results.get(record.unique_id)
        if not result or result.get("status") not in ("success", "error"):
            continue  # not built in this run: nothing happened to it
        timing = {t.get("name"): t for t in result.get("timing", [])}
        execute = timing.get("execute") or {}
        run = Run(runId=str(generate_new_uuid()), facets={"parent": parent})
        job = _job(record, namespace)
        inputs = [_input(port, namespace) for port in record.inputs]
        output = _output(record, namespace)
        ok = result["status"] == "success"
        failed |= not ok
        out.append(RunEvent(eventType=RunState.START, eventTime=_time(execute.get("started_at")),
                            run=run, job=job, inputs=inputs, outputs=[output],
                            producer=PRODUCER))
        out.append(RunEvent(eventType=RunState.COMPLETE if ok else RunState.FAIL,
                            eventTime=_time(execute.get("completed_at")), run=run, job=job,
                            inputs=inputs, outputs=[output] if ok else [], producer=PRODUCER))
    out.append(RunEvent(eventType=RunState.FAIL if failed else RunState.COMPLETE,
                        eventTime=_time(max(filter(None, ended), default=None)),
                        run=Run(runId=build_run), job=build_job, producer=PRODUCER))
    return out


def _job(record: ProductRecord, namespace: str) -> Any:
    from openlineage.client.event_v2 import Job  # noqa: PLC0415
    from openlineage.client.facet_v2 import documentation_job, job_type_job  # noqa: PLC0415

    return Job(namespace=namespace, name=record.relation, facets={
        "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH",
                                                integration="DUCKMESH", jobType="PRODUCT"),
        "documentation": documentation_job.DocumentationJobFacet(
            description=f"builds the data product {record.key} v{record.version}"),
    })


def _input(port: Port, namespace: str) -> Any:
    from openlineage.client.event_v2 import InputDataset  # noqa: PLC0415

    space, name = _dataset_of(port, namespace)
    return InputDataset(namespace=space, name=name)


def _output(record: ProductRecord, namespace: str) -> OutputDataset:
    from openlineage.client.event_v2 import OutputDataset as Output  # noqa: PLC0415
    from openlineage.client.facet_v2 import (  # noqa: PLC0415
        column_lineage_dataset as lineage,
    )
    from openlineage.client.facet_v2 import (  # noqa: PLC0415
        documentation_dataset,
        ownership_dataset,
        schema_dataset,
    )

    ports = {port.urn: _dataset_of(port, namespace) for port in record.inputs}
    fields = {}
    for column in record.columns:
        found = [lineage.InputField(namespace=ports[urn][0], name=ports[urn][1], field=name)
                 for urn, name in column.lineage if urn in ports]
        if found:
            fields[column.name] = lineage.Fields(inputFields=found)
    return Output(namespace=namespace, name=record.relation, facets={
        "schema": schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(
                name=c.name, type=c.data_type, description=c.description or None)
            for c in record.columns]),
        "columnLineage": lineage.ColumnLineageDatasetFacet(fields=fields),
        "documentation": documentation_dataset.DocumentationDatasetFacet(
            description=record.description),
        "ownership": ownership_dataset.OwnershipDatasetFacet(owners=[
            ownership_dataset.Owner(name=f"team:{record.owner_name}", type="OWNER")]),
    })


def _client(mesh: Mesh, build_run: str) -> tuple[Any, str]:
    """The OpenLineage client and where its events go: the client's own configuration,
    or a JSON-lines file under target/openlineage/."""
    from openlineage.client import OpenLineageClient  # noqa: PLC0415

    if any(os.environ.get(name) for name in CLIENT_SETTINGS) or Path(
            "openlineage.yml").is_file():
        client = OpenLineageClient()
        return client, type(client.transport).__name__.removesuffix("Transport").lower()
    from openlineage.client.transport.file import FileConfig, FileTransport  # noqa: PLC0415

    folder = mesh.target_dir / "openlineage"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{build_run}.jsonl"
    transport = FileTransport(FileConfig(log_file_path=str(path), append=True))
    return OpenLineageClient(transport=transport), relative(path, mesh.root)


def emit(mesh: Mesh, catalog: Catalog, run_results: dict | None) -> Emitted:
    """Send one build's events; the count and where they went."""
    try:
        from openlineage.client.uuid import generate_new_uuid  # noqa: PLC0415
    except ImportError as error:
        raise MeshError(f"OpenLineage events need the OpenLineage client: {INSTALL}") from error
    build_run = str(generate_new_uuid())
    namespace = os.environ.get("DUCKMESH_OPENLINEAGE_NAMESPACE") or NAMESPACE
    batch = events(catalog, run_results, namespace, build_run)
    client, where = _client(mesh, build_run)
    try:
        for event in batch:
            client.emit(event)
    except Exception as error:  # noqa: BLE001 (any transport's failure is reported as one)
        raise MeshError(f"OpenLineage: sending the events to {where} failed: {error}: check "
                        "OPENLINEAGE_URL or openlineage.yml (docs/lineage.md)") from error
    products = sum(1 for event in batch if event.job.name != BUILD_JOB) // 2
    return Emitted(len(batch), products, where)
