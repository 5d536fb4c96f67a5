"""The floor beneath the features: what they all share (store, events, scheduler,
the Slack and PagerDuty clients, config, the permissions and redaction policies).
Nothing here imports a feature."""
