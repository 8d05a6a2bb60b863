"""One module per resource; each exposes `ROUTES`, a tuple of `Route`."""
