"""Models on disk: the tiny test model KITT can generate, and (later) the local model browser."""
