"""Embedded mode: nats-server child, migrations, projectors and command handlers in one process tree."""
