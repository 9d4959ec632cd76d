"""Redirects to a target the request names (``next``, ``url``): same-site paths only.

Every redirect to a user-given target in the back office (sign-in's ``next``, the
test-postback form's ``next``, a list action's ``url``) goes through
:func:`safe_next`; anything else (another host, a scheme, ``//host``, ``/\\host``,
which browsers read as ``//host``, control characters they strip) is refused.
"""
from urllib.parse import urlparse


def safe_next(target):
    """``target`` when it is a path on this site (``/…``), else None."""
    if not target or not isinstance(target, str):
        return None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target) or "\\" in target:
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc:
        return None
    return target


__all__ = ["safe_next"]
