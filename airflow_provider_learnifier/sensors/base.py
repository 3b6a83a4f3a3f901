"""What the Learnifier sensors share: poke, reschedule and deferrable waits on one completion check."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_learnifier._arguments import DEFAULT_CONN_ID, positive_seconds
from airflow_provider_learnifier.completion import SUCCESS, TIMEOUT
from airflow_provider_learnifier.hooks.task import LearnifierHookMixin
from airflow_provider_learnifier.ids import blank
from airflow_provider_learnifier.sensors._first_try import first_try_start

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_learnifier.completion import CompletionCheck, CompletionStatus
    from airflow_provider_learnifier.triggers.base import LearnifierCompletionTrigger


class LearnifierCompletionSensor(LearnifierHookMixin, BaseSensorOperator):
    """Wait until a :class:`~airflow_provider_learnifier.completion.CompletionCheck` passes.

    Subclasses say what to check (:meth:`make_check`); the check is the one definition of the
    wait: the sensor pokes it, and when deferred hands it to
    :class:`~airflow_provider_learnifier.triggers.base.LearnifierCompletionTrigger`, which polls
    the same check in the triggerer (:meth:`make_trigger` imports the trigger only then: a DAG
    file that imports a sensor does not load the trigger machinery). The sensor returns the
    check's progress, a JSON-serializable dict, as its XCom value. When ``timeout`` passes
    first, the task fails with the progress reached.

    A name argument that renders blank (``None``, ``""`` or the text ``"None"``) counts as not
    given; the task then fails before any request if the name is incomplete, saying which argument
    rendered blank.

    :param learnifier_conn_id: the Airflow connection to Learnifier.
    :param deferrable: wait in the triggerer, freeing the worker slot between checks. Defaults to
        the ``[operators] default_deferrable`` option. ``mode`` does not matter then.
    :param poll_interval: seconds between checks, in place of ``poke_interval``. Templated, so that
        a DAG param can set it per run (``"{{ params.poll_interval }}"``); blank: ``poke_interval``.

    The other parameters (``poke_interval``, ``timeout``, ``mode``, ``soft_fail``, ...) are those of
    :class:`~airflow.sdk.BaseSensorOperator`.
    """

    def __init__(
        self,
        *,
        learnifier_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.learnifier_conn_id = learnifier_conn_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self._check: CompletionCheck | None = None
        self._last_status: CompletionStatus | None = None

    def make_check(self) -> CompletionCheck:
        """Return the completion check, from the (rendered) arguments.

        :raises ValueError: for wrong arguments.
        """
        raise NotImplementedError

    def make_trigger(self, end_time: float) -> LearnifierCompletionTrigger:
        """Return the trigger that waits for the same check until ``end_time`` (seconds since the epoch)."""
        # Imported here, not at module level: the trigger machinery is only needed to defer.
        from airflow_provider_learnifier.triggers.base import LearnifierCompletionTrigger

        return LearnifierCompletionTrigger(
            check=self.check,
            learnifier_conn_id=self.learnifier_conn_id,
            poll_interval=self.poke_interval,
            end_time=end_time,
        )

    @property
    def check(self) -> CompletionCheck:
        """The completion check, made once per execution from the rendered arguments."""
        if self._check is None:
            self._check = self.make_check()
        return self._check

    def poke(self, context: Context) -> PokeReturnValue:
        """Check once; done when the check passes, with the progress as XCom value."""
        status = self.check(self.hook)
        self._last_status = status
        for warning in status.warnings:
            self.log.warning("%s", warning)
        self.log.info("Learnifier %s: %s", self.check.describe(), status.message)
        return PokeReturnValue(is_done=status.done, xcom_value=status.progress)

    #: The arguments that name what is waited for; one rendered blank (``None``, ``""`` or the
    #: text ``"None"``, what Jinja renders for a missing value) counts as not given, as everywhere
    #: in the provider (:func:`~airflow_provider_learnifier.ids.blank`).
    name_fields: tuple[str, ...] = ()

    def given_names(self) -> dict[str, Any]:
        """The rendered ``name_fields``, each blank one as ``None``."""
        return {
            name: None if blank(getattr(self, name)) else getattr(self, name) for name in self.name_fields
        }

    def execute(self, context: Context) -> Any:
        """Check; then wait in poke or reschedule mode, or defer to the trigger when ``deferrable``."""
        self._apply_poll_interval()
        try:
            self._check = self.make_check()
        except ValueError as err:
            blanks = [
                f"{name} ({getattr(self, name)!r})"
                for name, value in self.given_names().items()
                if value is None and getattr(self, name) is not None
            ]
            if blanks:
                raise ValueError(f"{err}; rendered blank, so not given: {', '.join(blanks)}") from err
            raise
        try:
            if self.deferrable:
                return self._execute_deferrable(context)
            try:
                return super().execute(context)
            except AirflowSensorTimeout as timeout:
                raise AirflowSensorTimeout(self._timeout_message()) from timeout
        finally:
            self.hook.close()

    def _apply_poll_interval(self) -> None:
        """Use the rendered ``poll_interval``, when given, as ``poke_interval``.

        :raises ValueError: for anything but a positive number of seconds.
        """
        if not blank(self.poll_interval):
            self.poke_interval = positive_seconds("poll_interval", self.poll_interval)

    def _execute_deferrable(self, context: Context) -> Any:
        # Counted from the first try's start, so that a retry after an error event does not get the
        # whole timeout again (see first_try_start for where each Airflow line keeps it).
        started = first_try_start(context, self.retries)
        end_time = (time.time() if started is None else started.timestamp()) + self.timeout
        try:
            first = self.poke(context)
        except (AirflowSkipException, AirflowSensorTimeout):
            raise
        except Exception as err:
            if self.never_fail:
                raise AirflowSkipException("Skipping due to never_fail is set to True.") from err
            raise
        if first.is_done:
            return first.xcom_value
        self.defer(
            trigger=self.make_trigger(end_time),
            method_name="execute_complete",
            timeout=self.execution_timeout,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: return the progress, or fail on ``timeout`` and ``error``.

        Ends as poke mode ends for the same answer: ``soft_fail`` skips on a timeout only, and
        ``never_fail`` skips on an error too.

        :raises AirflowSensorTimeout: when the trigger's deadline came first; the message gives the
            progress reached.
        :raises LearnifierWaitError: when the trigger failed; the message gives the reason. It is not
            an ``AirflowException``, which Airflow would turn into a skip under ``soft_fail``.
        """
        from airflow_provider_learnifier.exceptions import LearnifierWaitError

        if not isinstance(event, dict) or "status" not in event:
            failure = LearnifierWaitError(f"The Learnifier trigger fired without a status: {event!r}")
        else:
            status, message = event["status"], event.get("message") or ""
            if status == SUCCESS:
                self.log.info("%s", message)
                return event.get("progress")
            if status == TIMEOUT:
                raise AirflowSensorTimeout(message)
            failure = LearnifierWaitError(message or f"The Learnifier trigger fired {status!r}")
        if getattr(self, "never_fail", False):
            raise AirflowSkipException("Skipping due to never_fail is set to True.") from failure
        raise failure

    def _timeout_message(self) -> str:
        what = f"Timed out after {self.timeout:g} s waiting for Learnifier {self.check.describe()}"
        if self._last_status is None:
            return what
        return f"{what}: {self._last_status.message}"
