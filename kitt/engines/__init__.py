"""Inference engines: what each is (specs), how to start it (runtimes), how to talk to it (dialects)."""
