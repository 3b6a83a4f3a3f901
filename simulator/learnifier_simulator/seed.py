"""Seed data of the simulator, with its ids and external ids as constants for DAGs and tests.

Every state gets the three course designs (projects need one). The ``demo`` seed adds the Acme
Corp organization unit, its administrator, an onboarding project run by the administrator, and a
user group based on the global "All Staff" group, with the administrator as its member::

    from learnifier_simulator import seed

    hook.get_project(seed.DEMO_ORG_UNIT_ID, seed.DEMO_PROJECT_ID)
"""

from __future__ import annotations

from datetime import datetime, timezone

from learnifier_simulator.models import (
    CourseDesign,
    GlobalUserGroup,
    OrgUnit,
    Project,
    TeamMember,
    User,
    UserGroup,
)
from learnifier_simulator.state import (
    DEFAULT_PROJECT_COUNTRY,
    DEFAULT_PROJECT_TIMEZONE,
    SimulatorState,
)

#: The names of the seeds; ``None`` means no seed beyond the course designs.
SEED_NAMES = ("demo",)

#: When the seeded records were created.
SEED_TIME = datetime(2024, 1, 15, 9, 0, tzinfo=timezone.utc)

ONBOARDING_DESIGN_ID = 101
ONBOARDING_DESIGN_NAME = "Onboarding"
ONBOARDING_ACTIVITIES = 5
SECURITY_AWARENESS_DESIGN_ID = 102
SECURITY_AWARENESS_DESIGN_NAME = "Security Awareness"
SECURITY_AWARENESS_ACTIVITIES = 4
CODE_OF_CONDUCT_DESIGN_ID = 103
CODE_OF_CONDUCT_DESIGN_NAME = "Code of Conduct"
CODE_OF_CONDUCT_ACTIVITIES = 3

DEMO_ORG_UNIT_ID = 1001
DEMO_ORG_UNIT_EXTERNAL_ID = "acme"
DEMO_ORG_UNIT_NAME = "Acme Corp"
DEMO_ORG_UNIT_CLIENT_NUMBER = "C-1001"

DEMO_ADMIN_USER_ID = "0b6f3c2e-6d4a-4f0e-9a57-3c1d2e8f7a01"
DEMO_ADMIN_EXTERNAL_ID = "acme-admin"
DEMO_ADMIN_EMAIL = "admin@acme.example"

DEMO_PROJECT_ID = 2001
DEMO_PROJECT_EXTERNAL_ID = "acme-onboarding-2024"
DEMO_PROJECT_NAME = "Acme Onboarding 2024"

DEMO_GLOBAL_USER_GROUP_ID = 5001
DEMO_GLOBAL_USER_GROUP_NAME = "All Staff"
DEMO_USER_GROUP_ID = 4001
DEMO_USER_GROUP_NAME = "Acme Staff"


def course_designs() -> list[CourseDesign]:
    """Return the course designs that every state has."""
    return [
        CourseDesign(ONBOARDING_DESIGN_ID, ONBOARDING_DESIGN_NAME, ONBOARDING_ACTIVITIES, SEED_TIME),
        CourseDesign(
            SECURITY_AWARENESS_DESIGN_ID,
            SECURITY_AWARENESS_DESIGN_NAME,
            SECURITY_AWARENESS_ACTIVITIES,
            SEED_TIME,
        ),
        CourseDesign(
            CODE_OF_CONDUCT_DESIGN_ID, CODE_OF_CONDUCT_DESIGN_NAME, CODE_OF_CONDUCT_ACTIVITIES, SEED_TIME
        ),
    ]


def demo_records() -> list[OrgUnit | User | Project | GlobalUserGroup | UserGroup]:
    """Return the records of the ``demo`` seed, beyond the course designs."""
    return [
        OrgUnit(
            DEMO_ORG_UNIT_ID,
            DEMO_ORG_UNIT_NAME,
            external_id=DEMO_ORG_UNIT_EXTERNAL_ID,
            client_number=DEMO_ORG_UNIT_CLIENT_NUMBER,
            country=DEFAULT_PROJECT_COUNTRY,
        ),
        User(
            DEMO_ADMIN_USER_ID,
            SEED_TIME,
            primary_email=DEMO_ADMIN_EMAIL,
            external_id=DEMO_ADMIN_EXTERNAL_ID,
            first_name="Ada",
            last_name="Admin",
            display_name="Ada Admin",
            locale="en",
            home_org=DEMO_ORG_UNIT_ID,
        ),
        Project(
            DEMO_PROJECT_ID,
            DEMO_ORG_UNIT_ID,
            ONBOARDING_DESIGN_ID,
            DEMO_PROJECT_NAME,
            SEED_TIME,
            ONBOARDING_ACTIVITIES,
            status="ACTIVATED",
            created_by=DEMO_ADMIN_USER_ID,
            external_id=DEMO_PROJECT_EXTERNAL_ID,
            locale="en",
            country=DEFAULT_PROJECT_COUNTRY,
            timezone=DEFAULT_PROJECT_TIMEZONE,
            user_title=ONBOARDING_DESIGN_NAME,
            team=[TeamMember(DEMO_ADMIN_USER_ID)],
        ),
        GlobalUserGroup(DEMO_GLOBAL_USER_GROUP_ID, DEMO_GLOBAL_USER_GROUP_NAME, SEED_TIME),
        UserGroup(
            DEMO_USER_GROUP_ID,
            DEMO_ORG_UNIT_ID,
            DEMO_USER_GROUP_NAME,
            global_id=DEMO_GLOBAL_USER_GROUP_ID,
            member_ids=[DEMO_ADMIN_USER_ID],
        ),
    ]


def seeded_state(seed: str | None) -> SimulatorState:
    """Return a new state holding the course designs and, for ``seed="demo"``, the demo records."""
    if seed is not None and seed not in SEED_NAMES:
        raise ValueError(f"Unknown seed {seed!r}: use one of {', '.join(SEED_NAMES)} or None")
    state = SimulatorState()
    state.add_records(*course_designs())
    if seed == "demo":
        state.add_records(*demo_records())
    return state
