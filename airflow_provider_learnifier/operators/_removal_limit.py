"""The guard on how many participants one sync may remove (``max_removals``).

Shared by the enroll operator (:mod:`~airflow_provider_learnifier.operators.participants`, which
documents it), the enrollment engine and assignment policies. See ``docs/guides/enrollment.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_provider_learnifier.ids import blank


@dataclass(frozen=True)
class RemovalLimit:
    """How many participants one sync may remove: at most ``count`` people, and at most ``share``
    of the project's participants. With both, a run is refused only when it exceeds both (so a
    small course may lose a few people, and a large one a small share).

    :param count: the most people, or ``None`` for no limit by count.
    :param share: the most, as a share (below 1) of the project's current participants.
    """

    count: int | None = None
    share: float | None = None

    @classmethod
    def of(cls, value: int | float | str | RemovalLimit | None) -> RemovalLimit | None:
        """Read ``max_removals``: a count, a share below 1, a :class:`RemovalLimit`, or ``None`` (off).

        A rendered template gives text: ``"12"`` or ``"0.2"``; a blank or ``"None"`` rendering
        means the default guard, never "no guard" (only the Python value ``None`` turns it off).

        :raises ValueError: naming the value, for anything else.
        """
        if value is None or isinstance(value, RemovalLimit):
            return value
        if isinstance(value, str):
            if blank(value):
                return DEFAULT_MAX_REMOVALS
            text = value.strip()
            if text.isdigit():
                value = int(text)
            elif text.replace(".", "", 1).isdigit():
                value = float(text)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return cls(count=value)
        if isinstance(value, float) and 0 <= value < 1:
            return cls(share=value)
        raise ValueError(
            "max_removals must be a count (a non-negative integer), a share of the participants "
            f"below 1 (a float such as 0.2), or None to turn the guard off, not {value!r}"
        )

    def allows(self, removals: int, participants: int) -> bool:
        """Tell whether removing ``removals`` of ``participants`` people stays within the limit."""
        over_count = self.count is not None and removals > self.count
        over_share = self.share is not None and removals > self.share * participants
        if self.count is not None and self.share is not None:
            return not (over_count and over_share)
        return not (over_count or over_share)

    def __str__(self) -> str:
        parts = []
        if self.share is not None:
            parts.append(f"{self.share:.0%} of the participants")
        if self.count is not None:
            parts.append(f"{self.count} people")
        return "more than " + " and more than ".join(parts) + " is refused"


#: The default guard of ``remove_missing``: a sync that would remove more than 10% of a project's
#: participants and more than 10 people is refused (after Microsoft Entra provisioning's
#: accidental-deletion threshold).
DEFAULT_MAX_REMOVALS = RemovalLimit(count=10, share=0.1)
