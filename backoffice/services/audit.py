"""The audit log: who changed what, when (SPEC §3). Never secrets in the summary."""
from ..models import AuditLog, Merchant

SECRET_KEYS = {"password", "password_hash", "api_key", "postback_secret", "secret", "previous_secret", "token", "token_hash", "totp_secret",
               "session_token"}


def _clean(summary):
    if isinstance(summary, dict):
        return {k: ("[hidden]" if k in SECRET_KEYS else _clean(v)) for k, v in summary.items()}
    if isinstance(summary, (list, tuple)):
        return [_clean(v) for v in summary]
    if isinstance(summary, (str, int, float, bool)) or summary is None:
        return summary
    return str(summary)


def record(actor, action, obj=None, merchant=None, summary=None, ip=""):
    """Write one entry; call it inside the database transaction of the change."""
    if merchant is None and obj is not None:
        # A merchant's own settings belong to that merchant's log too.
        merchant = obj.id if isinstance(obj, Merchant) else getattr(obj, "merchant_id", None)
    merchant_id = getattr(merchant, "id", merchant)
    return AuditLog.create(
        user=getattr(actor, "id", actor),
        merchant=merchant_id,
        action=action,
        object_type=type(obj).__name__.lower() if obj is not None else "",
        object_id=str(obj.id) if obj is not None and getattr(obj, "id", None) is not None else "",
        summary=_clean(summary or {}),
        ip=ip or "",
    )
