"""Flow factories: the one place that shows which tasks run, and in which order."""
