"""runbooks: see its modules."""
