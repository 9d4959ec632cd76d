"""Every endpoint module of the API, imported once so its routes exist."""
