"""Audit entries for the plain Flask-Admin create / edit / delete forms (issue 7).

Mixed into the operator screens whose rows are money or settings (wallets, payment
systems, merchant payment settings, exchange rates): each change is recorded with the
fields that changed, before and after (secrets never: ``services.audit`` hides them).
"""
import datetime
from decimal import Decimal

from flask import g, request
from flask_login import current_user

from ..services import audit

HIDDEN = {"password_hash", "session_token", "totp_secret", "api_key", "postback_secret",
          "previous_postback_secret", "secret", "previous_secret", "token_hash", "own_css"}


def _plain(value):
    if isinstance(value, (Decimal, datetime.date, datetime.datetime)):
        return str(value)
    return value


def snapshot(model):
    out = {}
    for field in model._meta.sorted_fields:
        if field.name in HIDDEN or field.primary_key:
            continue
        out[field.name] = getattr(model, field.name + "_id" if hasattr(field, "rel_model") else field.name, None)
    return out


def _plain_dict(values):
    return {k: _plain(v) for k, v in values.items()}


class AuditedViewMixin:
    """``<object>.create`` / ``.edit`` / ``.delete`` entries for a ScopedModelView."""

    def _audit_name(self):
        return self.model._meta.table_name

    def create_model(self, form):
        g.audit_before = {}
        return super().create_model(form)

    def update_model(self, form, model):
        g.audit_before = snapshot(model)  # as loaded, before the form is applied
        return super().update_model(form, model)

    def after_model_change(self, form, model, is_created):
        super().after_model_change(form, model, is_created)
        before, after = g.pop("audit_before", {}), snapshot(model)
        if is_created:
            summary = {"after": _plain_dict(after)}
        else:
            changed = {k: v for k, v in after.items() if before.get(k) != v}
            if not changed:
                return
            summary = {"before": _plain_dict({k: before.get(k) for k in changed}), "after": _plain_dict(changed)}
        audit.record(current_user.id, f"{self._audit_name()}.{'create' if is_created else 'edit'}", model,
                     merchant=getattr(model, "merchant_id", None), summary=summary, ip=request.remote_addr)

    def after_model_delete(self, model):
        super().after_model_delete(model)
        audit.record(current_user.id, f"{self._audit_name()}.delete", model,
                     merchant=getattr(model, "merchant_id", None), summary={"before": _plain_dict(snapshot(model))},
                     ip=request.remote_addr)
