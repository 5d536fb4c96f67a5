"""Methods: views.open, views.push, views.update (modals on a trigger_id, in stacks
of at most three), views.publish (a user's Home tab)."""

from __future__ import annotations

from typing import Any

from blocks.limits import view_problems
from bot.fakes.slack.model import VIEW_STACK_LIMIT, Trigger
from bot.fakes.slack.wire import Args, SlackError, metadata_messages, method
from bot.fakes.slack.workspace import Workspace


class ViewsMethods(Workspace):
    """Methods: views.open, views.push, views.update, views.publish."""

    def _view_arg(self, a: Args) -> dict[str, Any]:
        view = a.structured("view", "invalid_arguments")
        if view is None:
            raise SlackError(
                "invalid_arguments", response_metadata=metadata_messages(["view is required"])
            )
        problems = view_problems(view)
        if problems:
            raise SlackError("invalid_arguments", response_metadata=metadata_messages(problems))
        assert isinstance(view, dict)  # view_problems refuses anything else
        external_id = view.get("external_id")
        if external_id and any(v.get("external_id") == external_id for v in self.views.values()):
            raise SlackError("duplicate_external_id")
        return view

    def _use_trigger(self, a: Args) -> Trigger:
        trigger_id = a.opt("trigger_id") or a.opt("interactivity_pointer")
        if trigger_id is None:
            raise SlackError(
                "invalid_arguments", response_metadata=metadata_messages(["trigger_id is required"])
            )
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if self.clock() > trigger.expires_at:
            raise SlackError("expired_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        trigger.used = True
        return trigger

    @method("views.open")
    def _views_open(self, a: Args) -> dict[str, Any]:
        view = self._view_arg(a)
        trigger = self._use_trigger(a)
        return {"view": self._open_view(view, trigger.user, None)}

    @method("views.push")
    def _views_push(self, a: Args) -> dict[str, Any]:
        spec = self._view_arg(a)
        trigger = self._use_trigger(a)
        stack = self._user_stack(trigger)
        if stack is None:
            raise SlackError("not_found")
        if len(stack) >= VIEW_STACK_LIMIT:
            raise SlackError("push_limit_reached")
        return {"view": self._open_view(spec, trigger.user, stack)}

    def _user_stack(self, trigger: Trigger) -> list[str] | None:
        if trigger.view_id and trigger.view_id in self.views:
            return self._stacks.get(self.views[trigger.view_id]["root_view_id"])
        for stack in reversed(list(self._stacks.values())):
            if stack and self._view_user.get(stack[0]) == trigger.user:
                return stack
        return None

    @method("views.update")
    def _views_update(self, a: Args) -> dict[str, Any]:
        spec = a.structured("view", "invalid_arguments")
        if not isinstance(spec, dict):
            raise SlackError(
                "invalid_arguments", response_metadata=metadata_messages(["view is required"])
            )
        view_id, external_id = a.opt("view_id"), a.opt("external_id")
        if view_id is None and external_id is None:
            raise SlackError(
                "invalid_arguments", response_metadata=metadata_messages(["view_id or external_id"])
            )
        old = self.views.get(view_id) if view_id else None
        if old is None and external_id:
            old = next((v for v in self.views.values() if v["external_id"] == external_id), None)
        if old is None:
            raise SlackError("not_found")
        problems = view_problems(spec)
        if problems:
            raise SlackError("invalid_arguments", response_metadata=metadata_messages(problems))
        if a.opt("hash") is not None and a.opt("hash") != old["hash"]:
            raise SlackError("hash_conflict")
        return {"view": self._replace_view(old, spec)}

    @method("views.publish")
    def _views_publish(self, a: Args) -> dict[str, Any]:
        """A user's Home tab: a `home` view of at most 100 blocks, one per user, kept with
        the same id; a `hash` other than the current view's is refused (hash_conflict)."""
        user = a.opt("user_id")
        if user is None or user not in self.users:
            raise SlackError(
                "invalid_arguments", response_metadata=metadata_messages(["invalid `user_id`"])
            )
        if not self.home_tab_enabled:
            raise SlackError("not_enabled")
        spec = a.structured("view", "invalid_arguments")
        problems = view_problems(spec, kinds=("home",))
        if problems:
            raise SlackError("invalid_arguments", response_metadata=metadata_messages(problems))
        old = self.homes.get(user)
        if old is not None and a.opt("hash") is not None and a.opt("hash") != old["hash"]:
            raise SlackError("hash_conflict")
        view_id = old["id"] if old is not None else self._new_id("V")
        view = self._build_view(spec, view_id=view_id, root_id=view_id, previous=None)
        self.homes[user] = view
        self._emit({"type": "home_published", "user": user, "view": view})
        return {"view": view}
