"""Statuses as coloured badges (issue 22, point 1): one formatter for every list.

The words are ``backoffice.labels``' (translated); the tone of each stored value says
how it stands: ``ok`` (done, as it should be), ``wait`` (someone or something still
has to act), ``bad`` (refused, failed, fraud), ``info`` (under way), ``muted`` (neutral
or over). The tones are CSS classes of ``static/backoffice.css`` (``bo-badge-*``), each
4.5:1 or better against its background. A list's CSV gets the word alone (the export
strips the markup).
"""
from markupsafe import Markup

from .. import labels

OK, WAIT, BAD, INFO, MUTED = "ok", "wait", "bad", "info", "muted"

TRANSACTION_STATUS = {"new": MUTED, "activated": OK}
TRANSACTION_POSTBACK_STATUS = {"not_activated": MUTED, "stockpiling": INFO, "review": WAIT, "refused": BAD,
                               "pending": INFO, "sent": OK, "error": BAD}
TRANSACTION_TYPE = {"auto": MUTED, "manual": INFO}
ORIGINALITY = {"normal": MUTED, "fraud": BAD}
WITHDRAWAL_STATUS = {"new": WAIT, "approved": OK, "rejected": BAD, "cancelled": MUTED}
WITHDRAWAL_POSTBACK_STATUS = {"pending": INFO, "received": OK, "error": BAD}
POSTBACK_STATUS = {"pending": INFO, "sent": OK, "error": BAD}
ATTEMPT_OUTCOME = {"activated": OK, "stockpiling": INFO, "pending": INFO, "not_found": WAIT,
                   "already_activated": WAIT, "rejected": BAD, "error": BAD}
PENDING_STATUS = {"waiting": INFO, "activated": OK, "expired": MUTED}
WALLET_STATE = {"ok": OK, "paused": MUTED, "paused_silent": WAIT, "silent": BAD, "at_limit": WAIT,
                "inactive": MUTED}
APPEAL_STATUS = {"open": WAIT, "matched": OK, "rejected": BAD}
REVIEW_STATUS = {"held": WAIT, "approved": OK, "refused": BAD}
ACTIVE = {True: OK, False: MUTED}


def badge(value, words, tones, title=None, attribute="status"):
    """One stored ``value`` as a badge: its word (``words``, from ``labels``), its tone; the
    value itself in ``data-<attribute>``, an explanation in its title."""
    if value is None or value == "":
        return ""
    text = words.get(value, value)
    css = tones.get(value, MUTED)
    if title:
        return Markup('<span class="badge bo-badge bo-badge-%s" data-%s="%s" title="%s">%s</span>') % (
            css, attribute, value, title, text)
    return Markup('<span class="badge bo-badge bo-badge-%s" data-%s="%s">%s</span>') % (css, attribute, value, text)


def formatter(words, tones, attribute=None):
    """A list column's formatter: the row's ``attribute`` (the column by default) as a badge."""

    def _format(view, context, model, name):
        return badge(getattr(model, attribute or name), words, tones)

    return _format


# The vocabularies of ``labels`` with their tones, for formatters and templates.
TRANSACTION_STATUS_BADGE = formatter(labels.TRANSACTION_STATUS, TRANSACTION_STATUS, "status")
TRANSACTION_POSTBACK_BADGE = formatter(labels.TRANSACTION_POSTBACK_STATUS, TRANSACTION_POSTBACK_STATUS,
                                       "postback_status")
TRANSACTION_TYPE_BADGE = formatter(labels.TRANSACTION_TYPE, TRANSACTION_TYPE, "type")
ORIGINALITY_BADGE = formatter(labels.ORIGINALITY, ORIGINALITY, "originality")
WITHDRAWAL_POSTBACK_BADGE = formatter(labels.WITHDRAWAL_POSTBACK_STATUS, WITHDRAWAL_POSTBACK_STATUS,
                                      "postback_status")
POSTBACK_STATUS_BADGE = formatter(labels.POSTBACK_STATUS, POSTBACK_STATUS, "status")
ATTEMPT_OUTCOME_BADGE = formatter(labels.ATTEMPT_OUTCOME, ATTEMPT_OUTCOME, "outcome")
PENDING_STATUS_BADGE = formatter(labels.PENDING_STATUS, PENDING_STATUS, "status")

__all__ = ["badge", "formatter"]
