"""Agent authentication for NATS: nkeys, JWTs, and the auth-callout service (DESIGN.md §7)."""
