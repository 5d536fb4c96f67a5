"""What `manifest.yaml` at the repository root declares: the scopes the bot needs, and
its shortcuts (the sandbox offers them in its menus).

The manifest is found beside the package the way the shipped runbooks are
(`manifest_path()`): that works from a checkout and from `pip install -e .`, which is how
the bot is installed.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.runbooks.library import default_runbooks_dir

# What stops working without each scope manifest.yaml asks for (shown next to a gap).
SCOPE_USES = {
    "channels:history": "reading alert messages",
    "channels:join": "joining channels",
    "channels:manage": "creating incident channels",
    "channels:read": "finding channels by name",
    "chat:write": "posting anything",
    "chat:write.public": "posting to channels the bot is not in",
    "commands": "slash commands",
    "files:write": "uploading post-mortems",
    "groups:history": "reading private channels",
    "groups:read": "finding private channels",
    "groups:write": "private incident channels",
    "im:write": "direct messages",
    "pins:read": "reading pins",
    "pins:write": "pinning the incident card",
    "reactions:read": "reading reactions",
    "usergroups:read": "notifying user groups",
    "users:read": "user names",
    "users:read.email": "matching on-call people to Slack users",
}


def manifest_path() -> Path:
    """`<repo>/manifest.yaml`, beside the package like `<repo>/runbooks` (which
    bot/runbooks/library.py finds from its own place, wherever this file is)."""
    return default_runbooks_dir().parent / "manifest.yaml"


def manifest_scopes(path: Path) -> list[str]:
    """The bot scopes the manifest asks for; OSError or ValueError when unreadable."""
    try:
        data = yaml.safe_load(path.read_text())
        scopes = data["oauth_config"]["scopes"]["bot"]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: no oauth_config.scopes.bot list ({exc})") from exc
    if not isinstance(scopes, list):
        raise ValueError(f"{path}: oauth_config.scopes.bot is not a list")
    return [str(s) for s in scopes]


def manifest_shortcuts(path: Path | None = None) -> list[dict[str, str]]:
    """The manifest's shortcuts: each one's name, type (message or global) and callback_id."""
    data = yaml.safe_load((path or manifest_path()).read_text()) or {}
    found = (data.get("features") or {}).get("shortcuts") or []
    keys = ("name", "type", "callback_id")
    return [{k: str(s[k]) for k in keys} for s in found if all(k in s for k in keys)]
