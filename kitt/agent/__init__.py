"""kitt-agent: the daemon that runs tests on a GPU host (see the agents issue)."""
