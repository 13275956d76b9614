"""Agent authentication for NATS: nkeys, JWTs, and the auth-callout service (docs/security.md)."""
