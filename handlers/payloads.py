"""The payloads the handlers read from Slack, as pydantic models, and `parse`, the one way
they are read: a payload without what a handler needs raises `Malformed`, which the
handler answers with one sentence (blocks/payloads.py) instead of a stack trace.

The shapes are Slack's documented ones (docs.slack.dev, *Interaction payloads* and the
Events API's event types); each model holds only the fields the bot reads, and ignores the
rest, as Slack adds fields over time:

- `BlockActions`: a click on a button, select, overflow menu or checkboxes
  (`block_actions`); `Action` is the control, `State` the stateful elements around it.
- `ViewSubmission`: a modal submitted (`view_submission`); its `View` carries the bot's own
  `private_metadata` back, read as `View.meta` (a JSON object), and the inputs' `State`.
- `MessageAction` and `GlobalShortcut`: a shortcut on a message (`message_action`) and
  from the Shortcuts menu (`shortcut`).
- `SlashCommand`: a slash command's form fields.
- `EventCallback`, the Events API's outer envelope, and the events the bot subscribes:
  `AppHomeOpened`, `MemberChannel` (`member_joined_channel`, `member_left_channel`),
  `PinAdded`, `ReactionAdded`. A `message` event goes to the alert channels
  (bot/alerts/) as Slack sent it: they read it as the alert senders write it.

A field's `description` says what a person is told was missing: "That click came without
who clicked it, so nothing was done."
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

import blocks.payloads as ui
from blocks.common import Message as Said

log = logging.getLogger(__name__)

TS = r"^\d{9,11}\.\d{6}$"  # a message's ts as Slack writes it


class Malformed(Exception):
    """A payload without what its handler needs: `what` came without `missing`."""

    def __init__(self, what: str, missing: str) -> None:
        super().__init__(f"{what} without {missing}")
        self.what = what
        self.missing = missing

    @property
    def message(self) -> Said:
        """The one sentence the person is told."""
        return ui.malformed(self.what, self.missing)


class Payload(BaseModel):
    """Slack's JSON, read: unknown fields ignored, nothing changed once read."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    what: ClassVar[str] = "request"  # what the person is told came malformed


P = TypeVar("P", bound=Payload)


def parse(model: type[P], body: Any) -> P:
    """`body` read as `model`; `Malformed` (with what was missing) when it cannot be."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        log.warning(
            "malformed Slack payload",
            extra={"payload": model.__name__, "field": where, "problem": first["type"]},
        )
        raise Malformed(model.what, _missing(model, first["loc"])) from None


def _missing(model: type[Payload], loc: tuple[int | str, ...]) -> str:
    """What the person is told was missing: the description of the outermost field."""
    field = model.model_fields.get(str(loc[0])) if loc else None
    if field is not None and field.description:
        return field.description
    return f"a readable {loc[0]}" if loc else "anything the bot can read"


# -- the pieces ---------------------------------------------------------------------------


class User(Payload):
    id: str = Field(min_length=1)


class Channel(Payload):
    id: str = Field(min_length=1)


class Option(Payload):
    """A select's or overflow menu's option, a checkbox: what the bot reads is its value."""

    value: str


class Element(Payload):
    """A stateful element's value as Slack sends it: text typed, an option picked, the boxes
    ticked, a user picked (`value`, `selected_option`, `selected_options`,
    `selected_user`)."""

    type: str = ""
    value: str | None = None
    selected_option: Option | None = None
    selected_options: list[Option] = Field(default_factory=list)
    selected_user: str | None = None

    @property
    def chosen(self) -> str | None:
        """The value (a button's, a text input's), else the option picked."""
        if self.value or self.selected_option is None:
            return self.value
        return self.selected_option.value

    @property
    def ticked(self) -> list[str]:
        return [o.value for o in self.selected_options]


class Action(Element):
    """The control clicked (a block_actions payload's `actions[0]`)."""

    action_id: str = Field(min_length=1)
    block_id: str = ""


class State(Payload):
    """The stateful elements of a view or message: `values[block_id][action_id]`. The bot
    gives each input the same block and action id, so `block` alone names one."""

    values: dict[str, dict[str, Element]] = Field(default_factory=dict)

    def element(self, block: str, action: str | None = None) -> Element | None:
        return self.values.get(block, {}).get(action or block)

    def value(self, block: str) -> str | None:
        """The input `block`'s text or option picked; None when empty or not in the form."""
        element = self.element(block)
        return element.chosen if element is not None else None

    def ticked(self, block: str) -> bool:
        """Any box ticked in the checkboxes `block`."""
        element = self.element(block)
        return bool(element is not None and element.selected_options)

    def chosen(self) -> dict[str, str | None]:
        """Every input's value by its block id."""
        return {block: self.value(block) for block in self.values}


class Container(Payload):
    """Where the clicked control is: a message (`message_ts`, `channel_id`, whether it is
    an ephemeral) or a view (`view_id`)."""

    type: str = ""
    message_ts: str | None = None
    channel_id: str | None = None
    is_ephemeral: bool = False
    view_id: str | None = None


def _metadata(raw: Any) -> Any:
    """A view's private_metadata (what the bot wrote when it opened it): a JSON object, or
    nothing ("")."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            raise ValueError("private_metadata is not JSON") from None
    return raw


class View(Payload):
    """A modal as submitted: its id, callback, the bot's metadata, the inputs' state."""

    id: str = Field(min_length=1)
    callback_id: str = ""
    hash: str = ""
    meta: Annotated[dict[str, Any], BeforeValidator(_metadata)] = Field(
        default_factory=dict, validation_alias="private_metadata"
    )
    state: State = Field(default_factory=State)


class File(Payload):
    name: str | None = None
    title: str | None = None


class Message(Payload):
    """A message as a payload carries it (a message shortcut's)."""

    ts: str = Field(pattern=TS)
    text: str = ""
    user: str | None = None
    files: list[File] = Field(default_factory=list)


class ResponseUrl(Payload):
    block_id: str = ""
    action_id: str = ""
    channel_id: str = ""
    response_url: str


# -- interactions -------------------------------------------------------------------------


class BlockActions(Payload):
    """`block_actions`: someone clicked a control on a message, a modal or the Home tab."""

    what: ClassVar[str] = "click"

    user: User = Field(description="who clicked it")
    actions: list[Action] = Field(min_length=1, description="the button it was for")
    trigger_id: str = Field(min_length=1, description="a trigger to open its form with")
    channel: Channel | None = None
    container: Container = Field(default_factory=Container, description="where it was clicked")
    state: State = Field(default_factory=State, description="the form's values")
    response_url: str | None = None

    @property
    def action(self) -> Action:
        """The control clicked (Slack sends one per payload)."""
        return self.actions[0]

    @property
    def channel_id(self) -> str | None:
        """The channel of the message clicked on; None in a modal or the Home tab."""
        if self.channel is not None:
            return self.channel.id
        return self.container.channel_id or None


class ViewSubmission(Payload):
    """`view_submission`: someone pressed a modal's submit button."""

    what: ClassVar[str] = "form"

    user: User = Field(description="who sent it")
    view: View = Field(description="the form's own details")
    trigger_id: str | None = None
    response_urls: list[ResponseUrl] = Field(default_factory=list)


class MessageAction(Payload):
    """`message_action`: a message shortcut, picked from a message's *More actions*."""

    what: ClassVar[str] = "shortcut"

    callback_id: str = ""
    user: User = Field(description="who picked it")
    # the message before the trigger: a shortcut without its message is told that first
    message: Message = Field(description="the message")
    channel: Channel = Field(description="the message")
    trigger_id: str = Field(min_length=1, description="a trigger to open its form with")
    response_url: str | None = None

    @property
    def reply(self) -> ReplyTo:
        return ReplyTo(response_url=self.response_url, user=self.user)


class GlobalShortcut(Payload):
    """`shortcut`: a global shortcut, picked from the Shortcuts menu (no channel, no
    response_url)."""

    what: ClassVar[str] = "shortcut"

    callback_id: str = ""
    user: User = Field(description="who picked it")
    trigger_id: str = Field(min_length=1, description="a trigger to open its form with")

    @property
    def reply(self) -> ReplyTo:
        """A global shortcut has no response_url: answered in the bot's DM."""
        return ReplyTo(user=self.user)


def _or_none(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:
        return None


Lenient = WrapValidator(_or_none)  # an unreadable field reads as None


class ReplyTo(Payload):
    """Where any interaction can be answered, read from a payload however malformed: its
    response_url, else the DM of its user (see `reply_to`)."""

    response_url: Annotated[str | None, Lenient] = None
    user: Annotated[User | None, Lenient] = None


def reply_to(body: Any) -> ReplyTo:
    """Never fails: what of (response_url, user) `body` carries readably."""
    return ReplyTo.model_validate(body if isinstance(body, dict) else {})


class SlashCommand(Payload):
    """A slash command's form fields (`/incident …`, `/oncall …`)."""

    what: ClassVar[str] = "command"

    user_id: str = Field(min_length=1, description="who typed it")
    channel_id: str = Field(min_length=1, description="the channel it was typed in")
    command: str = ""
    text: str = ""
    trigger_id: str | None = None
    response_url: str | None = None


# -- the Events API -----------------------------------------------------------------------


class Authorization(Payload):
    user_id: str | None = None
    is_bot: bool = False


class EventCallback(Payload):
    """The envelope around every event (`event_callback`): its id (a retry carries the
    same), Slack's time in whole seconds, the app and whom the event was delivered for."""

    what: ClassVar[str] = "event"

    event_id: str | None = None
    event_time: int | None = None
    api_app_id: str | None = None
    authorizations: list[Authorization] = Field(default_factory=list)

    @property
    def bot_user(self) -> str | None:
        """The bot user the event was delivered for."""
        return next((a.user_id for a in self.authorizations if a.is_bot and a.user_id), None)


class AppHomeOpened(Payload):
    """`app_home_opened`: `user` opened the app's Home (`tab`: home or messages)."""

    what: ClassVar[str] = "event"

    user: str = Field(min_length=1)
    tab: str = ""
    channel: str | None = None


class MemberChannel(Payload):
    """`member_joined_channel` and `member_left_channel`."""

    what: ClassVar[str] = "event"

    user: str = Field(min_length=1)
    channel: str = Field(min_length=1)


class Item(Payload):
    """What a pin or a reaction is on: `type` message (`channel`, `ts`; a pin carries the
    `message` itself, as Slack serialises it, which bot/timeline.py reads)."""

    type: str = ""
    channel: str | None = None
    ts: str | None = None
    message: dict[str, Any] | None = None


class PinAdded(Payload):
    """`pin_added`: `user` pinned `item` in `channel_id` at `event_ts`."""

    what: ClassVar[str] = "event"

    user: str = ""
    channel_id: str | None = None
    item: Item = Field(default_factory=Item)
    event_ts: str | None = None

    @property
    def channel(self) -> str:
        return self.channel_id or self.item.channel or ""


class ReactionAdded(Payload):
    """`reaction_added`: `user` reacted with `reaction` (its name) to `item`."""

    what: ClassVar[str] = "event"

    user: str = ""
    reaction: str = ""
    item: Item = Field(default_factory=Item)
    event_ts: str | None = None
