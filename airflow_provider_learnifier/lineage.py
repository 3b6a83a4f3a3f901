"""OpenLineage datasets of the Learnifier operators, for ``apache-airflow-providers-openlineage``.

An operator records what it read and wrote while it runs, as a :class:`LineageRecord` of plain
``(namespace, name)`` pairs: no API call is made for lineage, and OpenLineage is imported only
when the OpenLineage provider asks for the facets. The names follow the OpenLineage naming spec,
as :doc:`/guides/lineage` shows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

#: The scheme of Learnifier datasets' namespaces.
NAMESPACE_SCHEME = "learnifier"

#: Object store schemes spelled differently by fsspec and by the naming spec.
_SPEC_SCHEMES = {"gcs": "gs", "s3a": "s3", "s3n": "s3"}

DatasetName = tuple[str, str]


@dataclass
class LineageRecord:
    """What a task read (``inputs``) and wrote (``outputs``), as ``(namespace, name)`` pairs."""

    inputs: list[DatasetName] = field(default_factory=list)
    outputs: list[DatasetName] = field(default_factory=list)

    def operator_lineage(self) -> OperatorLineage:
        """The record as the OpenLineage provider takes it; imports OpenLineage."""
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage

        return OperatorLineage(
            inputs=[Dataset(namespace=namespace, name=name) for namespace, name in self.inputs],
            outputs=[Dataset(namespace=namespace, name=name) for namespace, name in self.outputs],
        )


def learnifier_namespace(base_url: str) -> str:
    """The namespace of the Learnifier account behind an API base URL: ``learnifier://<host>[:port]``."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port not in (None, 443) else ""
    return f"{NAMESPACE_SCHEME}://{host}{port}"


def project_dataset(base_url: str, org_id: Any, project_id: Any) -> DatasetName:
    """The dataset of a Learnifier project: ``(learnifier://<host>, org/<org id>/project/<project id>)``."""
    return learnifier_namespace(base_url), f"org/{org_id}/project/{project_id}"


def file_dataset(path: Any) -> DatasetName:
    """The dataset of a file: a local path (:class:`str` or :class:`os.PathLike`) or an
    :class:`~airflow.sdk.ObjectStoragePath`, named as the OpenLineage naming spec says.

    The connection id of an object storage path is not part of the name: one object is one
    dataset, whichever connection reaches it.
    """
    protocol = getattr(path, "protocol", None)
    if protocol is not None and hasattr(path, "bucket"):
        # An ObjectStoragePath; fsspec gives some file systems several protocols.
        scheme = protocol if isinstance(protocol, str) else protocol[0]
        if scheme not in ("", "file", "local"):
            scheme = _SPEC_SCHEMES.get(scheme, scheme)
            return f"{scheme}://{path.bucket}", str(path.key).lstrip("/")
        path = path.path
    return "file", os.path.abspath(os.path.expanduser(os.fspath(path)))
