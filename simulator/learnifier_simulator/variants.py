"""Spec variants: answers that differ from the simulator's usual ones in every way Learnifier's spec permits.

The spec is the contract; the simulator is only one server that honours it. A client that works
only against the simulator's habits (full pages, declared statuses, integer ids, every member
present, creation order) may fail against Learnifier. With :class:`SpecVariants`, the simulator
varies, per request and at random from a seeded :class:`random.Random`, what the spec leaves open:

* ``GET /users`` pages hold fewer users than the ``limit`` asked, with truthful ``X-Limit``,
  ``X-Offset``, ``X-Size`` and ``X-More`` headers (or without those headers);
* request body members that the spec's request schema does not declare are ignored;
* answer objects carry unknown extra members;
* numeric ids are numbers or strings of digits (UUIDs stay strings);
* a success is any 2xx status: an answer keeps its body, an answer without a body may be a 204;
* optional answer members are ``null`` or absent (never ids, nor members the spec requires);
* lists come in any order (``GET /users`` only within its page, so that paging stays consistent);
* a second project or user with an external id that another already has is created, not
  refused with 409 (the spec declares a 409 only for a user's primary email).

The state stays the single source of truth: variants change how answers are rendered, never the
records; only :attr:`SpecVariants.ignore_undeclared_fields` filters the request body before the
state sees it, and :attr:`SpecVariants.duplicate_external_ids` lifts a check the state makes.
Error answers and the simulator's own ``/_simulator/`` routes are never varied.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from learnifier_simulator.messages import JSON_CONTENT_TYPE, ApiResponse

if TYPE_CHECKING:
    from collections.abc import Mapping

    from learnifier_simulator.bodies import BodySchema

#: The paging headers of ``GET /users``.
PAGING_HEADERS = ("X-Limit", "X-Offset", "X-Size", "X-More")

#: Answer members that the spec requires somewhere (``required`` of a response schema); they are
#: never dropped. A test checks this against openapi.json.
REQUIRED_MEMBERS = frozenset({"created", "enabled", "locale", "lockedDesign", "name", "sticky", "type"})

#: Members never dropped although the spec makes them optional: each is the whole of its answer
#: (the login link, the list of ``GET /orgunits``).
ESSENTIAL_MEMBERS = frozenset({"link", "orgUnits"})

#: Members that hold ids without an ``id``-like name.
_ID_MEMBERS = frozenset({"homeOrg", "parent", "uuid"})

#: Names of the unknown members added to answer objects, with a value each.
EXTRA_MEMBERS: tuple[tuple[str, Any], ...] = (
    ("x-vendorField", "simulated"),
    ("x-requestTrace", {"node": 7, "cached": False}),
    ("legacyFlags", [1, 2]),
    ("x-score", 0.5),
)

#: The success statuses an answer with a body may have instead of its usual one.
_STATUSES_WITH_BODY = (200, 201, 202)
#: The success statuses an answer without a body may have instead of its usual one.
_STATUSES_WITHOUT_BODY = (200, 201, 202, 204)


def is_id_member(name: str) -> bool:
    """Tell whether a member named ``name`` holds an id: ``id``, ``orgId``, ``userid``, ``homeOrg``..."""
    return name == "id" or name.endswith(("Id", "id")) or name in _ID_MEMBERS


@dataclass(frozen=True)
class SpecVariants:
    """Which of the spec's freedoms the simulator takes, each drawn per request from ``seed``.

    Everything is off by default; :meth:`all` turns everything on. The same ``seed`` and the same
    sequence of requests give the same answers.

    :param seed: the seed of the draws.
    :param users_page_cap: answer at most this many users per ``GET /users`` page, whatever the
        ``limit`` asked; the paging headers tell the limit actually used. ``None`` for no cap.
    :param random_page_sizes: cap each ``GET /users`` page at a random size from 1 to
        ``users_page_cap`` (which it requires) instead.
    :param paging_headers: send ``X-Limit``, ``X-Offset``, ``X-Size`` and ``X-More`` with
        ``GET /users``; without them a client must read an empty page as the end.
    :param ignore_undeclared_fields: ignore request body members that the spec's request schema
        does not declare, such as the ``externalId`` of ``POST /orgunits/{orgid}/projects``.
    :param extra_fields: add unknown members to answer objects.
    :param id_types: write numeric ids as numbers or as strings of digits.
    :param any_2xx: answer successes with any 2xx status, a body only where the usual answer has one.
    :param drop_optional: make optional answer members ``null`` or leave them out.
    :param shuffle: answer lists in random order (``GET /users`` within its page).
    :param duplicate_external_ids: create a project or user whose external id another already
        has, rather than answer 409: the spec declares no 409 for projects, and for users only
        for a taken primary email. A lookup by such an external id finds the oldest. Not part of
        :meth:`all`: it changes what the account holds, not only how answers look.
    :raises ValueError: for a ``users_page_cap`` below 1, or ``random_page_sizes`` without it.
    """

    seed: int = 0
    users_page_cap: int | None = None
    random_page_sizes: bool = False
    paging_headers: bool = True
    ignore_undeclared_fields: bool = False
    extra_fields: bool = False
    id_types: bool = False
    any_2xx: bool = False
    drop_optional: bool = False
    shuffle: bool = False
    duplicate_external_ids: bool = False

    def __post_init__(self) -> None:
        if self.users_page_cap is not None and self.users_page_cap < 1:
            raise ValueError(f"users_page_cap must be at least 1, not {self.users_page_cap!r}")
        if self.random_page_sizes and self.users_page_cap is None:
            raise ValueError("random_page_sizes needs users_page_cap")

    @classmethod
    def all(cls, seed: int = 0, *, users_page_cap: int = 100) -> SpecVariants:
        """Return variants with everything on, drawn from ``seed``.

        ``GET /users`` pages hold from 1 to ``users_page_cap`` users, with their paging headers
        (leaving those out is asked for alone, with ``paging_headers=False``).
        """
        return cls(
            seed=seed,
            users_page_cap=users_page_cap,
            random_page_sizes=True,
            ignore_undeclared_fields=True,
            extra_fields=True,
            id_types=True,
            any_2xx=True,
            drop_optional=True,
            shuffle=True,
        )

    @property
    def varies_answers(self) -> bool:
        """Whether successful answers are rendered differently (paging aside)."""
        return self.extra_fields or self.id_types or self.any_2xx or self.drop_optional or self.shuffle


class VariantRenderer:
    """Applies :class:`SpecVariants` to requests and answers; safe to use from many threads.

    :param variants: the variants; ``None`` leaves everything as it is.
    """

    def __init__(self, variants: SpecVariants | None) -> None:
        self._lock = threading.Lock()
        self.variants = variants

    @property
    def variants(self) -> SpecVariants | None:
        """The variants; setting them restarts the draws from their seed."""
        return self._variants

    @variants.setter
    def variants(self, variants: SpecVariants | None) -> None:
        with self._lock:
            self._variants = variants
            self._random = random.Random(variants.seed if variants else 0)

    def page_cap(self) -> int | None:
        """Return the most users the next ``GET /users`` page may hold, ``None`` for no cap."""
        with self._lock:
            variants = self._variants
            if variants is None or variants.users_page_cap is None:
                return None
            if variants.random_page_sizes:
                return self._random.randint(1, variants.users_page_cap)
            return variants.users_page_cap

    def request_body(self, schema: BodySchema, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """Return ``body`` without the members the spec does not declare, when those are ignored."""
        variants = self._variants
        if variants is None or not variants.ignore_undeclared_fields:
            return body
        return schema.declared_only(body)

    def render(self, response: ApiResponse) -> ApiResponse:
        """Return ``response`` varied as the variants say; errors and non-JSON bodies keep their body."""
        variants = self._variants
        if variants is None or not 200 <= response.status < 300:
            return response
        headers = dict(response.headers)
        if not variants.paging_headers:
            for name in PAGING_HEADERS:
                headers.pop(name, None)
        body = response.body
        with self._lock:
            if response.content_type == JSON_CONTENT_TYPE and body:
                body = json.dumps(self._vary(json.loads(body), variants), ensure_ascii=False).encode("utf-8")
            status = self._status(response, variants)
        return replace(response, status=status, body=body, headers=headers)

    def _status(self, response: ApiResponse, variants: SpecVariants) -> int:
        if not variants.any_2xx:
            return response.status
        if not response.body:
            return self._random.choice(_STATUSES_WITHOUT_BODY)
        if response.content_type == JSON_CONTENT_TYPE:
            return self._random.choice(_STATUSES_WITH_BODY)
        return response.status

    def _vary(self, value: Any, variants: SpecVariants) -> Any:
        if isinstance(value, list):
            items = [self._vary(item, variants) for item in value]
            if variants.shuffle:
                self._random.shuffle(items)
            return items
        if not isinstance(value, dict):
            return value
        varied: dict[str, Any] = {}
        for name, member in value.items():
            if variants.drop_optional and self._droppable(name) and self._random.random() < 0.3:
                if self._random.random() < 0.5:
                    varied[name] = None
                continue
            if variants.id_types and is_id_member(name) and _is_integer(member):
                varied[name] = str(member) if self._random.random() < 0.5 else member
                continue
            varied[name] = self._vary(member, variants)
        if variants.extra_fields and self._random.random() < 0.5:
            extra_name, extra_value = self._random.choice(EXTRA_MEMBERS)
            varied.setdefault(extra_name, extra_value)
        return varied

    @staticmethod
    def _droppable(name: str) -> bool:
        return not (is_id_member(name) or name in REQUIRED_MEMBERS or name in ESSENTIAL_MEMBERS)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
