"""Risk rules (SPEC §11): blocklists of labels, sender wallets and visitor networks,
for every merchant or one, and the velocity limits' counts.

The activation's claim applies both inside its one ``UPDATE`` (``activation``); the
functions here say afterwards why a claim was refused (for the attempt log), check a
delayed activation when its report arrives, and keep the blocklists (operators,
audited).
"""
import datetime

from flask_babel import gettext as _
from peewee import JOIN, fn

from ..db import write_transaction
from ..models import BINDING_REASONS, RISK_BLOCK_KINDS, ActivationAttempt, Merchant, RiskBlock
from . import audit
from .checks import SettingsError
from .matching import network_of

HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)


def block_probes(merchant_id, label, network, sender):
    """The blocklist lookups that refuse an attempt, one per kind (each an index probe
    on ``(kind, value, merchant)``, whatever the table's size or state); ``sender`` may
    be an expression (the claim compares the reported counterparty)."""
    scope = RiskBlock.merchant.is_null() | (RiskBlock.merchant == merchant_id)
    return [RiskBlock.select(RiskBlock.id).where((RiskBlock.kind == kind) & (RiskBlock.value == value) & scope)
            for kind, value in (("label", label), ("network", network), ("sender", sender))]


def blocked(merchant_id, label, network, sender):
    """Whether a blocklist entry hits this label, network or sender wallet."""
    return any(probe.exists() for probe in block_probes(merchant_id, label or "", network or "", sender or ""))


def label_activations(merchant_id, label, since):
    """Activations (binding attempts) of a visitor since ``since``."""
    return ActivationAttempt.select().where(
        (ActivationAttempt.merchant == merchant_id) & (ActivationAttempt.label == label)
        & ActivationAttempt.reason.in_(BINDING_REASONS) & (ActivationAttempt.created_at > since)).count()


def sender_activations(sender, since):
    """Activations (binding attempts) paid from a sender wallet since ``since``."""
    return ActivationAttempt.select().where(
        (ActivationAttempt.sender == sender) & ActivationAttempt.reason.in_(BINDING_REASONS)
        & (ActivationAttempt.created_at > since)).count()


def velocity_breached(policy, merchant_id, label, sender, now):
    """Whether one more activation would break a velocity limit of ``policy``."""
    if policy.velocity_label_hour and label_activations(merchant_id, label, now - HOUR) >= policy.velocity_label_hour:
        return True
    return bool(policy.velocity_sender_day and sender
                and sender_activations(sender, now - DAY) >= policy.velocity_sender_day)


def refusal(policy, merchant_id, label, network, sender, now):
    """``blocked``, ``rate_limited`` (a velocity limit), or None."""
    if blocked(merchant_id, label, network, sender):
        return "blocked"
    if velocity_breached(policy, merchant_id, label, sender, now):
        return "rate_limited"
    return None


def clean_block(kind, value):
    """The stored value of a blocklist entry; SettingsError names the faulty field."""
    if kind not in RISK_BLOCK_KINDS:
        raise SettingsError({"kind": _("Choose what to block: a label, a sender wallet or a network.")})
    value = (value or "").strip()
    if not value or len(value) > 255:
        raise SettingsError({"value": _("Enter the value to block (at most 255 characters).")})
    if kind == "network":
        network = network_of(value.split("/", 1)[0])
        if not network:
            raise SettingsError({"value": _("Enter an IP address or a network such as 203.0.113.0/24.")})
        value = network  # attempts are kept by /24 (IPv4) or /64 (IPv6): block that unit
    return value


def add_block(kind, value, merchant_id=None, note="", actor=None, ip=""):
    """Block a label, a sender wallet or a visitor network (for one merchant or all)."""
    value = clean_block(kind, value)
    note = (note or "").strip()[:500]
    if merchant_id is not None and not Merchant.select().where(Merchant.id == merchant_id).exists():
        raise SettingsError({"merchant": _("Unknown merchant.")})
    with write_transaction():
        scope = RiskBlock.merchant.is_null() if merchant_id is None else RiskBlock.merchant == merchant_id
        if RiskBlock.select().where(scope & (RiskBlock.kind == kind) & (RiskBlock.value == value)).exists():
            raise SettingsError({"value": _("This is blocked already.")})
        block = RiskBlock.create(merchant=merchant_id, kind=kind, value=value, note=note,
                                 created_by=getattr(actor, "id", actor))
        audit.record(actor, "risk.block", block, merchant=merchant_id,
                     summary={"kind": kind, "value": value, "note": note}, ip=ip)
    return block


def remove_block(block_id, actor, ip=""):
    """Lift a blocklist entry; False when there was none."""
    with write_transaction():
        block = RiskBlock.get_or_none(RiskBlock.id == block_id)
        if block is None:
            return False
        block.delete_instance()
        audit.record(actor, "risk.unblock", block, merchant=block.merchant_id,
                     summary={"kind": block.kind, "value": block.value}, ip=ip)
    return True


def blocks(merchant_id=None):
    """The blocklist entries, newest first (``merchant_id``: that merchant's and the global ones)."""
    query = RiskBlock.select(RiskBlock, Merchant).join(Merchant, JOIN.LEFT_OUTER, on=(
        RiskBlock.merchant == Merchant.id)).order_by(RiskBlock.created_at.desc(), RiskBlock.id.desc())
    if merchant_id is not None:
        query = query.where(RiskBlock.merchant.is_null() | (RiskBlock.merchant == merchant_id))
    return query


def block_counts():
    """{kind: entries} for the operators' overview."""
    return dict(RiskBlock.select(RiskBlock.kind, fn.COUNT(RiskBlock.id)).group_by(RiskBlock.kind).tuples())
