"""The machine a run ran on: one fingerprint implementation for `kitt fingerprint`, runs and agents."""
