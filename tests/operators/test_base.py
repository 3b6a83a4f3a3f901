"""What every operator shares: one hook per task, and the limits of the bulk operators."""

from __future__ import annotations

import pytest

from airflow_provider_learnifier.operators._base import LearnifierBulkOperator
from airflow_provider_learnifier.operators.participants import (
    LearnifierEnrollOperator,
    LearnifierLoginLinkOperator,
)
from airflow_provider_learnifier.operators.projects import LearnifierCreateProjectOperator
from airflow_provider_learnifier.operators.reporting import LearnifierProgressReportOperator
from airflow_provider_learnifier.operators.user_groups import (
    LearnifierAddUserGroupMembersOperator,
    LearnifierRemoveUserGroupMembersOperator,
)
from airflow_provider_learnifier.operators.users import LearnifierUpsertUsersOperator
from airflow_provider_learnifier.sensors.projects import LearnifierProjectCompletionSensor

#: Each bulk operator with the arguments it needs besides its limits.
BULK_OPERATORS = [
    (LearnifierEnrollOperator, {"roster": []}),
    (LearnifierLoginLinkOperator, {"participant_ids": []}),
    (LearnifierUpsertUsersOperator, {"users": []}),
    (LearnifierAddUserGroupMembersOperator, {"group_id": "g", "user_ids": []}),
    (LearnifierRemoveUserGroupMembersOperator, {"group_id": "g", "user_ids": []}),
]


@pytest.mark.parametrize(("operator_class", "arguments"), BULK_OPERATORS)
def test_every_bulk_operator_takes_its_limits_from_the_bulk_base(operator_class, arguments):
    assert issubclass(operator_class, LearnifierBulkOperator)
    operator = operator_class(task_id="bulk", max_concurrency=3, max_failures=2, **arguments)
    assert (operator.max_concurrency, operator.max_failures) == (3, 2)
    assert operator.http_pool_size == 3
    assert operator.too_many_failures(2) is False
    assert operator.too_many_failures(3) is True


@pytest.mark.parametrize(("operator_class", "arguments"), BULK_OPERATORS)
@pytest.mark.parametrize(
    ("limits", "refused"),
    [
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": True}, "max_concurrency"),
        ({"max_concurrency": "8"}, "max_concurrency"),
        ({"max_failures": -1}, "max_failures"),
        ({"max_failures": 1.5}, "max_failures"),
    ],
)
def test_every_bulk_operator_refuses_unusable_limits(operator_class, arguments, limits, refused):
    with pytest.raises(ValueError, match=f"{refused} must be"):
        operator_class(task_id="bulk", **limits, **arguments)


@pytest.mark.parametrize(
    "make_task",
    [
        lambda tmp_path: LearnifierCreateProjectOperator(
            task_id="create", org_id="1", name="n", learnifier_conn_id="c1"
        ),
        lambda tmp_path: LearnifierProgressReportOperator(
            task_id="report", path=str(tmp_path / "report.csv"), org_id="1", learnifier_conn_id="c1"
        ),
        lambda tmp_path: LearnifierProjectCompletionSensor(
            task_id="wait", org_id="1", project_id="2", learnifier_conn_id="c1"
        ),
    ],
    ids=["operator", "report", "sensor"],
)
def test_operators_sensors_and_the_report_get_their_hook_the_same_way(make_task, tmp_path):
    task = make_task(tmp_path)
    hook = task.hook
    assert hook.learnifier_conn_id == "c1"
    assert task.hook is hook
