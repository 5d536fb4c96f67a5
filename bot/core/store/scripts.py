"""The store's Lua scripts, each atomic in Redis: read once, at import, from `lua/*.lua`
(package data, shipped by pyproject.toml). A script that uses a shared fragment
(`lib_*.lua`, Lua functions) is the fragment's text followed by its own."""

from __future__ import annotations

from importlib.resources import files

_LUA = files(__package__) / "lua"


def _load(*names: str) -> str:
    return "".join((_LUA / f"{name}.lua").read_text(encoding="utf-8") for name in names)


# incidents (incidents.py)
INCIDENT_CREATE = _load("incident_create")
INCIDENT_UPDATE = _load("incident_update")
# identity (identity.py) and the Redis server (server.py)
NEXT_NUMBER = _load("next_number")
INSTALL = _load("install")
CLAIM_DB = _load("claim_db")
# timeline (timeline.py) and checklists (runbooks.py)
APPEND_MARKED = _load("append_marked")
CAPTURE = _load("capture")
SET_STEP = _load("set_step")
# durable time (schedule.py)
DUE_OPS = _load("lib_due", "due_ops")
DUE_CLAIM = _load("lib_due", "due_claim")
# rate limits and Slack budgets: one GCRA (leases.py, alerts.py)
PACE = _load("pace")
# alerts (alerts.py)
ALERT_ACCEPT = _load("lib_accept", "alert_accept")
ALERT_ADMIT = _load("lib_accept", "alert_admit")
ALERT_READ = _load("alert_read")
ALERT_APPLY = _load("lib_dropped", "lib_forget", "alert_apply")
ALERT_DROPPED = _load("lib_dropped", "alert_dropped")
ALERT_PRUNE = _load("lib_forget", "alert_prune")
ALERT_SETTLE = _load("alert_settle")
ALERT_DIGEST_JOIN = _load("alert_digest_join")
ALERT_GROUP_SET = _load("alert_group_set")
ALERT_BOARD_SET = _load("alert_board_set")


def every() -> list[str]:
    """Every script above (start-up loads them all: `Store.load_scripts`)."""
    return [v for k, v in globals().items() if k.isupper() and k[0] != "_" and isinstance(v, str)]
