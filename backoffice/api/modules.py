"""Every endpoint module of the API, imported once so its routes exist."""
from . import connector  # noqa: E402,F401
from . import withdrawals  # noqa: E402,F401 - merchant API: withdrawal requests (issue 5)
from ..plugin_builder import merchant_api  # noqa: E402,F401 - merchant API: plugin theme and GIF prompts (issue 6)
from . import transactions  # noqa: E402,F401 - merchant API: the transactions list
