"""The transport under :class:`~airflow_provider_learnifier.hooks.learnifier.LearnifierHook`.

Private: the hook is the interface, and re-exports what users import (settings, constants).
``settings`` reads the connection (``proxy`` its forward proxy); ``attempt`` sends one attempt
through the rate gate within its ``deadline``, judged by ``answers`` (decoding, error mapping) and
``retries`` (whether and when to try again); ``redaction`` keeps credentials out of everything;
``session`` builds the ``requests`` session over ``tls``. Every private name of urllib3 and
requests is used in ``urllib3_internals`` alone. ``session``, ``tls`` and ``urllib3_internals``
import ``requests``: only import them where a session is made or a body read.

See ``docs/guides/hook.md`` for the hook, ``docs/reliability.md`` for how requests fail.
"""
