"""The one credential scrubber: every text that comes from Learnifier passes it before anyone sees it.

A server may repeat what it was sent: the ``Authorization`` header in an error ``message``, the
API key in a redirect target, the secret in a field. Airflow's secrets masker covers task logs
only, and knows the secret but not its base64 or percent-encoded forms; XComs, trigger events and
exceptions are not masked at all. So the hook hands every answer to :data:`SCRUBBER` at its edge
(headers, reason phrase, JSON bodies, the text of transport errors) and nothing downstream ever
holds a credential. See ``docs/reliability.md``.

Register credentials with :meth:`CredentialScrubber.add` (a secret alone) or
:meth:`CredentialScrubber.add_basic_auth` (a user and password sent as HTTP Basic, such as the
API key and secret, or a proxy's credentials); scrub with :meth:`CredentialScrubber.scrub` (text)
or :meth:`CredentialScrubber.scrub_json` (a decoded JSON value).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus

#: What a credential is replaced with.
REPLACEMENT = "***"
#: Credentials shorter than this are not scrubbed: hiding every ``abc`` would garble all text.
MIN_SECRET_LENGTH = 4
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
        self._bytes: re.Pattern[bytes] | None = None

    def add(self, *secrets: str) -> None:
        """Scrub each of ``secrets`` (a password, an API key, a token) from now on, in all its forms."""
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                forms |= _encoded_forms(secret)
        self._extend(forms)

    def add_basic_auth(self, user: str, password: str) -> None:
        """Scrub an HTTP Basic pair: the user, the password and the ``Authorization`` token, in all forms."""
        forms: set[str] = set()
        for secret in (user, password, *_basic_token_forms(user, password)):
            if secret:
                forms |= _encoded_forms(secret)
        self._extend(forms)

    def _extend(self, forms: set[str]) -> None:
        forms = {form for form in forms if len(form) >= MIN_SECRET_LENGTH}
        with self._lock:
            if forms <= self._forms:
                return
            self._forms = self._forms | forms
            alternatives = [_pattern_of(form) for form in sorted(self._forms, key=len, reverse=True)]
            text = re.compile("|".join(alternatives))
            # The bytes pattern finds the forms in a UTF-8 body before it is decoded.
            self._bytes = re.compile("|".join(alternatives).encode("utf-8"))
            self._text = text

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

    def may_be_in_json(self, content: bytes) -> bool:
        """Tell whether a JSON body may hold a credential once decoded: a cheap look at its bytes.

        Exact for a UTF-8 body without escapes: each decoded string is then a piece of the bytes.
        A body with a backslash (an escape such as ``\\/`` or ``\\u0041``) or a NUL byte (UTF-16
        or UTF-32) may hide a credential from that look, so it counts as holding one.
        """
        pattern = self._bytes
        if pattern is None:
            return False
        return b"\\" in content or b"\x00" in content or pattern.search(content) is not None

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
