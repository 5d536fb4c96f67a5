"""The Web API methods the fake serves, one module a family (as Slack's docs group them):
each registers its methods with bot.fakes.slack.wire.method."""
