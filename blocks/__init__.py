"""Pure Block Kit builders: domain objects in, plain dicts out."""
