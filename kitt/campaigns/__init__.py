"""Campaigns: the campaign file, planning a models x engines x suites matrix, and cron schedules."""
