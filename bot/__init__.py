"""Slack incident-response bot: the domain (see DESIGN.md)."""
