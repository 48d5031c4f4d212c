"""Scheduled work: the scheduler's jobs and the day-by-day replay."""
