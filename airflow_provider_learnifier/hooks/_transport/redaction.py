"""Redaction: no credential leaves the hook, in an answer, an error or a log line.

A server may repeat what it was sent (the ``Authorization`` header in an error ``message``, the
API key in a redirect target), and Airflow's secrets masker covers task logs only, without the
secret's base64 or percent-encoded forms. So every answer passes :data:`SCRUBBER` at the hook's
edge (headers, reason phrase, JSON bodies, the text of transport errors), and the hook has Airflow
mask each credential in task logs (:func:`mask_in_task_logs`). See ``docs/reliability.md``.

Register credentials with :meth:`CredentialScrubber.add` (a secret alone) or
:meth:`CredentialScrubber.add_basic_auth` (an HTTP Basic pair: the API key and secret, or a
proxy's credentials); scrub with :meth:`CredentialScrubber.scrub` (text) or
:meth:`CredentialScrubber.scrub_json` (a decoded JSON value).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

from airflow_provider_learnifier.version_compat import mask_secret

if TYPE_CHECKING:
    import requests

    from airflow_provider_learnifier.hooks._transport.settings import LearnifierConnectionSettings

#: The byte that makes a needle's case vary (a percent-escape's hex digits).
_PERCENT = b"%"
#: What a credential is replaced with.
REPLACEMENT = "***"
#: Credentials shorter than this are not scrubbed: hiding every ``abc`` would garble all text.
MIN_SECRET_LENGTH = 4
#: The shortest piece of a secret that a quick look at a body searches instead of its every form.
_MIN_NEEDLE = 8
#: Characters that neither percent-encoding nor base64's variants change.
_UNRESERVED_RUN = re.compile(r"[A-Za-z0-9._~-]+")
#: A needle that a JSON writer writes as it is (unless it escapes printable ASCII, see below).
_PLAIN_NEEDLE = re.compile(r"[ !#-\[\]-~]+")
#: A JSON escape of a printable ASCII character (``\\u0061`` for ``a``), which few servers write.
_PRINTABLE_ESCAPE = re.compile(rb"\\u00[2-7][0-9a-fA-F]")
#: A JSON escape of half a surrogate pair, which Python's escape codec does not join as JSON does.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
#: A percent-escape, whose hex digits a server may write in either case.
_PERCENT_ESCAPE = re.compile(r"%([0-9A-F]{2})")


def _encoded_forms(secret: str) -> set[str]:
    """``secret`` as it is, percent-encoded (path and query style) and form-encoded."""
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}


def _basic_token_forms(user: str, password: str) -> set[str]:
    """The base64 of ``user:password`` (the HTTP Basic token): padded, unpadded and URL-safe."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    urlsafe = base64.urlsafe_b64encode(f"{user}:{password}".encode()).decode("ascii")
    # The unpadded forms match the padded ones too: their tail "==" is left, harmless.
    return {token.rstrip("="), urlsafe.rstrip("=")}


def _needles_of(secret: str, forms: set[str]) -> set[str]:
    """What a quick look searches to find any of a secret's ``forms``: one piece they all hold.

    The longest run of the secret's characters that no encoding changes (letters, digits,
    ``-._~``) is in each form; a secret without a run of :data:`_MIN_NEEDLE` such characters is
    searched in all its forms.
    """
    longest = max(_UNRESERVED_RUN.findall(secret), key=len, default="")
    return {longest} if len(longest) >= _MIN_NEEDLE else forms


def _folded(needle: str) -> bytes:
    """A needle as the quick look searches the body's bytes: UTF-8, its ASCII letters lower-cased
    when a percent-escape makes case vary (as ``bytes.lower`` folds the body: ASCII only)."""
    encoded = needle.encode("utf-8")
    return encoded.lower() if "%" in needle else encoded


def _pattern_of(form: str) -> str:
    """A regular expression matching ``form``, with its percent-escapes in either case."""
    pieces = []
    last = 0
    for escape in _PERCENT_ESCAPE.finditer(form):
        pieces.append(re.escape(form[last : escape.start()]))
        pieces.append(f"%(?i:{escape.group(1)})")
        last = escape.end()
    pieces.append(re.escape(form[last:]))
    return "".join(pieces)


class CredentialScrubber:
    """Replaces registered credentials, in every form HTTP gives them, with ``***``; thread-safe.

    Each registered secret is scrubbed as it is, percent-encoded and form-encoded (hex digits in
    either case); an HTTP Basic pair also as its base64 token (padded or not, standard or URL-safe)
    and that token percent-encoded. Longer forms are replaced first, so nothing of a credential is
    left behind when one form contains another.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: frozenset[str] = frozenset()
        # Replaced whole, never changed in place: a thread scrubbing meanwhile uses one or the other.
        self._text: re.Pattern[str] | None = None
        #: What a quick look at a body searches (:func:`_needles_of`), lower-cased: as UTF-8, as text.
        self._needles: tuple[tuple[bytes, ...], tuple[str, ...], tuple[str, ...]] = ((), (), ())
        #: Whether every needle is printable ASCII without ``"`` or ``\\``: JSON escapes none of it.
        self._plain_needles = True

    def add(self, *secrets: str) -> None:
        """Scrub each of ``secrets`` (a password, an API key, a token) from now on, in all its forms."""
        self._extend([secret for secret in secrets if secret])

    def add_basic_auth(self, user: str, password: str) -> None:
        """Scrub an HTTP Basic pair: the user, the password and the ``Authorization`` token, in all forms."""
        self._extend([secret for secret in (user, password, *_basic_token_forms(user, password)) if secret])

    def _extend(self, secrets: list[str]) -> None:
        forms: set[str] = set()
        needles: set[str] = set()
        for secret in secrets:
            encoded = {form for form in _encoded_forms(secret) if len(form) >= MIN_SECRET_LENGTH}
            forms |= encoded
            needles |= _needles_of(secret, encoded)
        with self._lock:
            if forms <= self._forms:
                return
            self._forms = self._forms | forms
            byte_needles, text_needles, json_needles = self._needles
            self._needles = (
                tuple(set(byte_needles) | {_folded(needle) for needle in needles}),
                tuple(set(text_needles) | {needle.lower() for needle in needles}),
                tuple(
                    set(json_needles)
                    | {json.dumps(needle, ensure_ascii=False)[1:-1].lower() for needle in needles}
                ),
            )
            alternatives = [_pattern_of(form) for form in sorted(self._forms, key=len, reverse=True)]
            self._text = re.compile("|".join(alternatives))
            self._plain_needles = all(_PLAIN_NEEDLE.fullmatch(needle) for needle in self._needles[1])

    def scrub(self, text: str) -> str:
        """Return ``text`` with every registered credential replaced by ``***``."""
        pattern = self._text
        if pattern is None or not text:
            return text
        return pattern.sub(REPLACEMENT, text)

    def holds(self, text: str) -> bool:
        """Tell whether ``text`` holds a registered credential."""
        pattern = self._text
        return pattern is not None and pattern.search(text) is not None

    def scrub_json(self, value: Any) -> Any:
        """Return a decoded JSON value with every string in it (object keys included) scrubbed."""
        if self._text is None:
            return value
        return self._scrub_value(value)

    def _scrub_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {self.scrub(str(key)): self._scrub_value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._scrub_value(item) for item in value]
        return value

    def scrub_json_answer(self, content: bytes, value: Any) -> Any:
        """Return ``value``, decoded from the JSON ``content``, scrubbed: after a quick look at it.

        The look searches a piece of each credential that all its forms hold, lower-cased (so
        percent-escapes in any case match), in the lower-cased bytes (with ``\\/`` read as ``/``)
        when the body's escapes cannot hide a piece; else in its text with the escapes read (an
        ASCII body) or in ``value`` written again as JSON without escapes (a body with UTF-8,
        UTF-16 or UTF-32 characters, or surrogate pairs). Only a body that may hold a credential
        is walked string by string (:meth:`scrub_json`).
        """
        byte_needles, text_needles, json_needles = self._needles
        if not byte_needles:
            return value
        if b"\\" in content and b"\\/" in content:  # the first look is a fast memchr
            content = content.replace(b"\\/", b"/")  # the one escape many servers write everywhere
        wide = b"\x00" in content  # UTF-16 or UTF-32
        plain = b"\\" not in content and not wide
        if plain or (self._plain_needles and not wide and not _PRINTABLE_ESCAPE.search(content)):
            # Each decoded string is a piece of the UTF-8 bytes; or the escapes in them stand for
            # characters that the needles (printable ASCII without quote or backslash) do not hold.
            # Needles with a percent-escape are searched lower-cased (hex in either case).
            lowered = content.lower() if any(_PERCENT in needle for needle in byte_needles) else content
            if not any(needle in (lowered if _PERCENT in needle else content) for needle in byte_needles):
                return value
        else:
            if content.isascii() and _SURROGATE_ESCAPE.search(content) is None:
                # Escaped ASCII (``\\u00e9``, ``\\n``): Python's escape codec reads JSON's escapes alike.
                written, needles = content.decode("unicode_escape").lower(), text_needles
            else:
                written, needles = json.dumps(value, ensure_ascii=False).lower(), json_needles
            if not any(needle in written for needle in needles):
                return value
        return self._scrub_value(value)

    def clean_chain(self, error: BaseException | None) -> bool:
        """Tell whether no exception in ``error``'s chain (causes and contexts) says a credential."""
        seen: set[int] = set()
        while error is not None and id(error) not in seen:
            seen.add(id(error))
            if self.holds(f"{error!s} {error!r}"):
                return False
            error = error.__cause__ or error.__context__
        return True


#: The process's scrubber: the hook registers each connection's credentials in it.
SCRUBBER = CredentialScrubber()


class ScrubbingLogFilter(logging.Filter):
    """Scrubs log records of a library logger (``urllib3`` writes request URLs, with ``?key=``)."""

    def __init__(self, scrubber: CredentialScrubber = SCRUBBER) -> None:
        super().__init__("learnifier-credentials")
        self._scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot be formatted is the handler's problem
            return True
        scrubbed = self._scrubber.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


#: The loggers of ``urllib3`` that write request URLs (at DEBUG, and in retry warnings).
_URLLIB3_URL_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager")

for _name in _URLLIB3_URL_LOGGERS:
    logging.getLogger(_name).addFilter(ScrubbingLogFilter(SCRUBBER))


def scrub_answer(response: requests.Response) -> None:
    """Scrub an answer's headers and reason phrase of credentials, for every later reader of them."""
    for name, value in list(response.headers.items()):
        if SCRUBBER.holds(value):
            response.headers[name] = SCRUBBER.scrub(value)
    if response.reason and SCRUBBER.holds(response.reason):
        response.reason = SCRUBBER.scrub(response.reason)


#: The hook's calls into Airflow's task runner (the connection lookup, ``mask_secret``) take turns
#: across threads: Airflow 3.0's in-process runner (``dag.test()``) swaps a module global around
#: each call, so two threads calling at once can leave the task without its supervisor link.
AIRFLOW_CALLS = threading.Lock()


def mask_in_task_logs(*secrets: str) -> None:
    """Have Airflow mask ``secrets`` in task logs (one thread at a time, see :data:`AIRFLOW_CALLS`)."""
    with AIRFLOW_CALLS:
        for secret in secrets:
            mask_secret(secret)


def hide_credentials(settings: LearnifierConnectionSettings) -> None:
    """Hide a connection's credentials from now on: masked in task logs, scrubbed from answers."""
    proxy_secrets = settings.proxy.secrets if settings.proxy else ()
    mask_in_task_logs(settings.key, settings.secret, settings.authorization, settings.token, *proxy_secrets)
    SCRUBBER.add_basic_auth(settings.key, settings.secret)
    # The proxy's password and Proxy-Authorization token; not its user name, which is no secret
    # (and scrubbed would garble messages: a user called "proxy").
    SCRUBBER.add(*proxy_secrets)
