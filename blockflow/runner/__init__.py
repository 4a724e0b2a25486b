"""Running flows: engines and listeners, boot, resume, delete, the jobboard."""
