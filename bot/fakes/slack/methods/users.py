"""Methods: users.info, users.list, users.lookupByEmail, usergroups.list,
usergroups.users.list."""

from __future__ import annotations

import time
from typing import Any

from bot.fakes.slack.wire import Args, SlackError, method, paged
from bot.fakes.slack.workspace import Workspace


class UsersMethods(Workspace):
    """Methods: users.info, users.list, users.lookupByEmail, usergroups.list,"""

    @method("users.info")
    def _users_info(self, a: Args) -> dict[str, Any]:
        user = self.users.get(a.req("user", "user_not_found"))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": self.serialize_user(user)}

    @method("users.list")
    def _users_list(self, a: Args) -> dict[str, Any]:
        page, next_cursor = paged([self.serialize_user(u) for u in self.users.values()], a)
        return {
            "members": page,
            "cache_ts": int(time.time()),
            "response_metadata": {"next_cursor": next_cursor},
        }

    @method("users.lookupByEmail")
    def _users_lookup_by_email(self, a: Args) -> dict[str, Any]:
        email = a.req("email", "users_not_found").lower()
        for user in self.users.values():
            if user.email and user.email.lower() == email:
                return {"user": self.serialize_user(user)}
        raise SlackError("users_not_found")

    @method("usergroups.list")
    def _usergroups_list(self, a: Args) -> dict[str, Any]:
        include_users = a.flag("include_users")
        groups = []
        for g in self.usergroups.values():
            out = {k: v for k, v in g.items() if k != "users"}
            out["user_count"] = len(g["users"])
            if include_users:
                out["users"] = list(g["users"])
            groups.append(out)
        return {"usergroups": groups}

    @method("usergroups.users.list")
    def _usergroups_users_list(self, a: Args) -> dict[str, Any]:
        group = self.usergroups.get(a.req("usergroup", "no_such_subteam"))
        if group is None:
            raise SlackError("no_such_subteam")
        return {"users": list(group["users"])}
