"""The sandbox's demo procedure: a small escalation matrix and a stakeholder audience at
demo scale, so a newcomer sees an escalation and a stakeholder reminder within minutes.

Used only when the config names no procedure of its own (no `escalation.matrix` and no
`stakeholders`): a team trying its own file in the sandbox sees exactly its procedure.
The fake workspace gets what the demo names: a #leadership channel and an
@eng-managers user group (Carol and Dave).
"""

from __future__ import annotations

from datetime import timedelta

from bot.core.config import Escalation, EscalationStep, IncidentConfig, StakeholderAudience
from bot.fakes.slack import FakeSlack

TEAM_LEAD = "U0BOB"
LEADERSHIP = "leadership"


def demo_procedure(config: IncidentConfig, fake: FakeSlack) -> IncidentConfig:
    if config.escalation.matrix or config.stakeholders:
        return config
    if fake.channel_by_name(LEADERSHIP) is None:
        fake.add_channel(LEADERSHIP, members=list(fake.users))
    group = fake.add_usergroup("eng-managers", ["U0CAROL", "U0DAVE"], name="Engineering managers")
    steps = [
        EscalationStep(
            after=timedelta(minutes=2), notify=[TEAM_LEAD], note="Team lead (demo: after 2 min)"
        ),
        EscalationStep(
            after=timedelta(minutes=4),
            notify=[group["id"]],
            note="Engineering managers (demo: after 4 min)",
        ),
    ]
    audience = StakeholderAudience(
        audience="management",
        channel=LEADERSHIP,
        every=timedelta(minutes=5),
        first=timedelta(minutes=1),
        template="executive",
    )
    names = [s.name for s in config.severities]
    escalation = Escalation(
        ack_timeout=config.escalation.ack_timeout, matrix=dict.fromkeys(names, steps)
    )
    stakeholders = {name: [audience] for name in names}
    return config.model_copy(update={"escalation": escalation, "stakeholders": stakeholders})
