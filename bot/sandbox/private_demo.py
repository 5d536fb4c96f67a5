"""The sandbox's demo of private incidents: a @security user group (Carol) invited into
every private incident, and the shipped `security-incident` runbook (or an alert labelled
`security: "true"`) making an incident private by default.

Used only when the config has no `private:` section of its own. Try it as Alice with
`/incident declare --private SEV1 …`, then switch to Bob: the channel is not in his list
and the announcement says only that a private incident exists.
"""

from __future__ import annotations

from bot.core.config import IncidentConfig, PrivateConfig
from bot.fakes.slack import FakeSlack


def demo_private(config: IncidentConfig, fake: FakeSlack) -> IncidentConfig:
    if "private" in config.model_fields_set:
        return config
    group = fake.add_usergroup("security", ["U0CAROL"], name="Security team")
    private = PrivateConfig(
        runbooks=["security-incident"], labels={"security": "true"}, security_group=group["id"]
    )
    return config.model_copy(update={"private": private})
