"""KITT on other hosts over SSH: `kitt remote`."""
