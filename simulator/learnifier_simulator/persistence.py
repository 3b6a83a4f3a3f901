"""A simulator's state directory: its CA, server certificate, port and data across restarts.

``learnifier-simulator --state-dir DIR`` keeps in ``DIR``

- ``ca.pem``, ``server.pem`` and ``server-key.pem``: made at the first start, reused while valid
  (see :data:`~learnifier_simulator.tls.VALIDITY`), so a connection whose
  ``verify`` names ``DIR/ca.pem`` stays valid;
- ``port``: the port of the first start, listened on again unless ``--port`` says otherwise;
- ``data.json``: every record and the next ids, written when the simulator stops and read at the
  next start instead of the seed.

The directory is the user's own (mode 0700): it holds the server's private key.
"""

from __future__ import annotations

import json
import os
import types
from dataclasses import fields, is_dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin, get_type_hints

from learnifier_simulator import models
from learnifier_simulator.tls import TlsFiles, create_certificates, valid_for

if TYPE_CHECKING:
    from pathlib import Path

    from learnifier_simulator.state import SimulatorState

#: A kept certificate closer than this to its expiry is replaced at start.
RENEW_BEFORE = timedelta(days=1)
#: The version of ``data.json``'s layout.
DATA_FORMAT = 1

_RECORD_KINDS: dict[str, type] = {
    kind.__name__: kind
    for kind in (
        models.OrgUnit,
        models.CourseDesign,
        models.User,
        models.Project,
        models.Participant,
        models.UserGroup,
        models.GlobalUserGroup,
    )
}


def prepare(directory: Path) -> None:
    """Create ``directory`` if needed, private to the user."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)


def certificates(directory: Path) -> TlsFiles:
    """Return the certificates kept in ``directory``, made anew when missing or about to expire."""
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    return files if valid_for(files, RENEW_BEFORE) else create_certificates(directory)


def saved_port(directory: Path) -> int:
    """The port kept in ``directory``; 0 (any free port) when none is."""
    try:
        return int((directory / "port").read_text().strip())
    except (FileNotFoundError, ValueError):
        return 0


def save_port(directory: Path, port: int) -> None:
    (directory / "port").write_text(f"{port}\n")


def save_state(directory: Path, state: SimulatorState) -> None:
    """Write ``state``'s records and next ids to ``directory/data.json`` (atomically)."""
    data = {
        "format": DATA_FORMAT,
        "next_ids": state.next_ids(),
        "records": [{"kind": type(record).__name__, **_encode(record)} for record in state.records()],
    }
    partial = directory / "data.json.partial"
    partial.write_text(json.dumps(data, indent=1) + "\n")
    partial.replace(directory / "data.json")


def load_state(directory: Path, state: SimulatorState) -> bool:
    """Load ``directory/data.json`` into the empty ``state``; ``False`` when there is none.

    :raises ValueError: for a file this version cannot read.
    """
    path = directory / "data.json"
    if not path.is_file():
        return False
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or data.get("format") != DATA_FORMAT:
        raise ValueError(f"{path} is not a simulator data file of format {DATA_FORMAT}")
    records = []
    for entry in data["records"]:
        kind = _RECORD_KINDS.get(entry.pop("kind", None))
        if kind is None:
            raise ValueError(f"{path} holds a record of an unknown kind")
        records.append(_decode(kind, entry))
    state.add_records(*records)
    state.reserve_ids(data.get("next_ids", {}))
    return True


def _encode(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    return value


def _decode(annotation: Any, value: Any) -> Any:
    """Rebuild a value of type ``annotation`` from what :func:`_encode` made of it."""
    if value is None:
        return None
    origin, arguments = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        (member,) = [argument for argument in arguments if argument is not type(None)]
        return _decode(member, value)
    if annotation is datetime:
        return datetime.fromisoformat(value)
    if isinstance(annotation, type) and is_dataclass(annotation):
        hints = get_type_hints(annotation)
        known = {f.name for f in fields(annotation) if f.init}
        return annotation(
            **{name: _decode(hints[name], item) for name, item in value.items() if name in known}
        )
    if origin is tuple:
        return tuple(_decode(arguments[0], item) for item in value)
    if origin is list:
        return [_decode(arguments[0], item) for item in value]
    return value
