"""A client for the simulator's tests that checks every exchange against the OpenAPI description."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import requests

from tests.openapi_contract import validate_exchange

if TYPE_CHECKING:
    from learnifier_simulator import LearnifierSimulator


class ApiClient:
    """Calls a simulator over real sockets, asserts the status, and validates the exchange.

    ``verify`` is passed with each request: a session's ``verify`` would lose to the
    ``REQUESTS_CA_BUNDLE`` environment variable.

    :param spec_variants: validate answers as those of a simulator with spec variants, which may
        answer any 2xx for success (``expect`` is then any 2xx when it is one).
    """

    def __init__(
        self, simulator: LearnifierSimulator, spec: dict[str, Any], *, spec_variants: bool = False
    ) -> None:
        self.simulator = simulator
        self.spec = spec
        self.spec_variants = spec_variants
        self.session = requests.Session()
        self.session.auth = (simulator.key, simulator.secret)

    def call(
        self, method: str, path: str, *, expect: int, valid_request: bool = True, **kwargs: Any
    ) -> requests.Response:
        """Send a request, assert its status is ``expect`` and validate the one exchange it made.

        :param valid_request: whether the request itself should follow the spec (``False`` for
            requests made invalid on purpose).
        """
        seen = len(self.simulator.exchanges)
        response = self.session.request(
            method, self.simulator.base_url + path, verify=self.simulator.ca_file, timeout=10, **kwargs
        )
        status = response.status_code
        if self.spec_variants and 200 <= expect < 300:
            assert 200 <= status < 300, f"{method} {path}: {status} {response.text}"
        else:
            assert status == expect, f"{method} {path}: {status} {response.text}"
        new_exchanges = self.simulator.exchanges[seen:]
        assert len(new_exchanges) == 1, new_exchanges
        validate_exchange(
            self.spec, new_exchanges[0], validate_request=valid_request, spec_variants=self.spec_variants
        )
        return response

    def get(self, path: str, *, expect: int = 200, **kwargs: Any) -> requests.Response:
        """``GET path``."""
        return self.call("GET", path, expect=expect, **kwargs)

    def post(self, path: str, *, expect: int, **kwargs: Any) -> requests.Response:
        """``POST path``."""
        return self.call("POST", path, expect=expect, **kwargs)

    def patch(self, path: str, *, expect: int, **kwargs: Any) -> requests.Response:
        """``PATCH path``."""
        return self.call("PATCH", path, expect=expect, **kwargs)

    def delete(self, path: str, *, expect: int, **kwargs: Any) -> requests.Response:
        """``DELETE path``."""
        return self.call("DELETE", path, expect=expect, **kwargs)


def error_body(response: requests.Response) -> dict[str, Any]:
    """Return the error body of ``response``, asserting its shape and that its code is the status."""
    body = response.json()
    assert response.headers["Content-Type"] == "application/json"
    assert body["code"] == response.status_code
    assert isinstance(body["message"], str) and body["message"]
    return body
