"""Training jobs started from the app: specs, status on disk, the runner and its worker process."""
