"""Moved: the settings rules are in ``profile`` (a user's own settings),
``merchant_settings`` (a merchant's system settings and secrets) and ``checks``
(``SettingsError``, time zones, common passwords).

Only ``signing_secrets`` is still importable from here, for the postback delivery
code (``jobs/postbacks.py``, and ``services/postback_delivery.py`` that is replacing
it), which is being reworked at the same time: import it from ``merchant_settings``
there, then delete this module.
"""
from .merchant_settings import signing_secrets  # noqa: F401 - see the docstring
