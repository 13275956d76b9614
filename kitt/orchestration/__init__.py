"""Process managers: a run's lifecycle (executor), and later campaigns, dispatch and schedules."""
