"""The nudge ledger: which reminders were claimed and sent, kept as one small file per reminder.

A reminder is identified by its key, a digest of (organization unit, course, participation,
state, milestone). Before a reminder is handed over for delivery, the run *claims* it by creating
its file, only if absent: of two runs that try at once exactly one succeeds. Once delivered, the
file is replaced by one that says ``sent``; after a definite refusal, the claim is removed, so the
next run tries again. A claim that is neither (a run killed between claiming and recording) is
*unconfirmed*: it is never tried again by itself, and each later run names it. See
:doc:`/guides/nudges`.

Files hold ids, the state, the milestone and the run; never a name, an email or a link.

Imported by the nudge operator when a task runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

EntryStatus = Literal["claimed", "sent"]

#: The largest ledger file read; anything bigger is not ours and counts as an unconfirmed claim.
MAX_ENTRY_BYTES = 16_384


def reminder_key(org_id: str, project_id: str, participant_id: str, state: str, milestone: str) -> str:
    """The ledger key of one reminder: a hex digest, safe as a file name whatever the ids hold."""
    identity = json.dumps([org_id, project_id, participant_id, state, milestone], ensure_ascii=True)
    return hashlib.sha256(identity.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class LedgerEntry:
    """What the ledger says about one reminder.

    :param status: ``claimed`` (handed over, or about to be, and not recorded as sent) or ``sent``.
    :param record: the file's content (ids, state, milestone, run, times); empty when unreadable.
    """

    status: EntryStatus
    record: dict[str, Any]


class NudgeLedger:
    """One file per reminder under ``root``, created only if absent.

    :param root: a directory: a local :class:`ObjectStoragePath` (``file://``) or another
        file system (``s3://``...) whose ``open`` supports the exclusive mode ``"xb"``.
    """

    def __init__(self, root: ObjectStoragePath) -> None:
        self.root = root
        self._local = root.protocol in ("", "file", "local")
        self._token = uuid.uuid4().hex

    def __repr__(self) -> str:
        return f"NudgeLedger({self.root})"

    def _path(self, key: str) -> ObjectStoragePath:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> LedgerEntry | None:
        """Return the entry of ``key``, or ``None`` when the reminder was never claimed."""
        path = self._path(key)
        try:
            if self._local:
                with open(path.path, "rb") as handle:
                    raw = handle.read(MAX_ENTRY_BYTES + 1)
            else:
                if not path.exists():
                    return None
                with path.open("rb") as handle:
                    raw = handle.read(MAX_ENTRY_BYTES + 1)
        except FileNotFoundError:
            return None
        try:
            record = json.loads(raw) if len(raw) <= MAX_ENTRY_BYTES else {}
        except ValueError:
            record = {}  # a claim cut short by a crash: unconfirmed
        if not isinstance(record, dict):
            record = {}
        status: EntryStatus = "sent" if record.get("status") == "sent" else "claimed"
        return LedgerEntry(status, record)

    def claim(self, key: str, record: dict[str, Any]) -> bool:
        """Create the entry of ``key`` as ``claimed`` if there is none; tell whether this call made it."""
        body = self._body(key, record, "claimed")
        path = self._path(key)
        if self._local:
            os.makedirs(os.path.dirname(path.path), exist_ok=True)
            try:
                descriptor = os.open(path.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            return True
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("xb") as handle:
                handle.write(body)
        except FileExistsError:
            return False
        except (ValueError, NotImplementedError) as err:
            raise RuntimeError(
                f"the nudge ledger at {self.root} cannot create files exclusively ({err}); use a local "
                "path or a store whose file system supports mode 'xb' (e.g. S3 with conditional writes)"
            ) from err
        return True

    def confirm(self, key: str, record: dict[str, Any]) -> None:
        """Record the reminder of ``key`` as ``sent`` (replacing the claim atomically)."""
        body = self._body(key, record, "sent")
        path = self._path(key)
        if self._local:
            temporary = f"{path.path}.{uuid.uuid4().hex}.tmp"
            with open(temporary, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path.path)
            return
        with path.open("wb") as handle:
            handle.write(body)

    def release(self, key: str) -> None:
        """Remove this ledger's own claim of ``key`` (the reminder was not delivered); others' are kept."""
        entry = self.get(key)
        if entry is None or entry.status != "claimed" or entry.record.get("token") != self._token:
            return
        path = self._path(key)
        if self._local:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path.path)
        else:
            path.unlink(missing_ok=True)

    def _body(self, key: str, record: dict[str, Any], status: EntryStatus) -> bytes:
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        entry = {**record, "key": key, "status": status, "token": self._token, f"{status}_at": now}
        return json.dumps(entry, sort_keys=True).encode("utf-8")
