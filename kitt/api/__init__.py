"""The HTTP API (Litestar): read models out, commands in, live streams from JetStream."""
