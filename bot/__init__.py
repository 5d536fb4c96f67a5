"""Slack incident-response bot: the domain (see docs/architecture.md)."""
