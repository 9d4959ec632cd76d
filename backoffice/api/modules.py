"""Every endpoint module of the API, imported once so its routes exist."""
from . import connector  # noqa: E402,F401
