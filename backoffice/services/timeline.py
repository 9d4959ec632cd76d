"""A transaction's timeline (SPEC §11): what happened to one reported payment, step by
step, for the transaction's details page.

:func:`timeline` gathers, in a fixed number of queries whatever the history's length:

* the report (when the payment occurred; by which connector, or entered by hand and
  by whom), and reports of the same number that disagreed with it;
* every activation attempt for it (by its id, or by its number at its merchant and
  payment system: attempts made before it was reported too), with the outcome the
  visitor saw and the reason code;
* the activation (when no attempt or manual activation explains it), the visitor's
  stockpiling (joined, completed), review holds and decisions;
* its ledger entries (and its stockpiling's), fraud marks and their withdrawal;
* every postback delivery of its events (and its stockpiling's), with each attempt.

Entries come in time order; entries at the same instant in the order the steps
happen (an attempt before the hold it caused, a fraud mark before its reversal, a
booking before the postback that reports it). Who did something is shown as
``labels.actor_label`` says: operators see logins, merchant users see "Operator".

Plain functions over the models; sentences are translated when built (call in an
app context, as a page does).
"""
import datetime
from dataclasses import dataclass, field

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from peewee import JOIN

from .. import delivery_errors, labels
from ..i18n import money_text
from ..models import (
    ActivationAttempt,
    AuditLog,
    ConnectorToken,
    DepositReview,
    LedgerEntry,
    Postback,
    PostbackAttempt,
    Stockpiling,
    Transaction,
    User,
    WebhookEndpoint,
)

# The kinds of entry, in the order they take when they share an instant.
KINDS = (
    "reported", "conflicting_report", "attempt", "manual_activation", "activated", "stockpiling_joined",
    "stockpiling_completed", "review_held", "review_decided", "fraud_mark", "normal_mark", "ledger",
    "postback", "postback_attempt",
)
_RANK = {kind: n for n, kind in enumerate(KINDS)}

# Audit actions on a transaction that the timeline shows.
AUDIT_ACTIONS = ("transaction.create_manual", "transaction.conflicting_report", "transaction.activate_manually",
                 "transaction.mark_fraud", "transaction.mark_normal")
# What the connector that reported a payment is called is the operators' business.
CONNECTOR_NAMES_FOR_MERCHANTS = False
# The attempts shown at most (a number hammered by a guesser should not make a page of
# thousands of lines): the earliest and the latest half each.
MAX_ATTEMPTS = 200

REASON_TONES = {
    "activated": "success", "stockpiling": "success", "review": "warning", "pending": "secondary",
    "not_found": "secondary", "already_activated": "secondary",
}
LEDGER_TITLES = {
    "deposit": _l("Credited to the balance"),
    "commission": _l("Commission taken"),
    "deposit_reversal": _l("Reversed: taken back from the balance"),
}
REVIEW_RULES = {
    "above": _l("the deposit is above the review threshold"),
    "first_above": _l("the label's first deposit is above the review threshold"),
}


@dataclass
class Entry:
    """One line of the timeline. ``at`` is naive UTC; ``details`` maps a translated
    name to its value (text, a datetime the page shows in the viewer's zone, or a
    ``delivery_errors.DeliveryError``: a postback failure in words, with its HTML);
    ``tone`` is a Bootstrap colour (success, danger, warning, info, secondary)."""

    at: datetime.datetime
    kind: str
    title: str
    text: str = ""
    details: dict = field(default_factory=dict)
    actor: str = ""
    tone: str = "secondary"
    seq: int = 0  # the row's id: a stable order within a kind at one instant

    @property
    def sort_key(self):
        return (self.at, _RANK.get(self.kind, len(KINDS)), self.seq)


def _money(amount, currency):
    """An amount as people read it: the viewer's language, joined to its currency (issue 22)."""
    return money_text(amount, currency) if amount is not None else ""


class _Actors:
    """Users named by the entries, read in one query, shown as the viewer may see them."""

    def __init__(self, ids, for_operator):
        ids = {i for i in ids if i is not None}
        self.users = {u.id: u for u in User.select(User.id, User.login, User.role).where(User.id.in_(list(ids)))} \
            if ids else {}
        self.for_operator = for_operator

    def __call__(self, user_id, nobody=""):
        if user_id is None:
            return nobody
        user = self.users.get(user_id)
        if user is None:  # deleted meanwhile
            return _("a deleted user")
        return labels.actor_label(user, self.for_operator)


def _stockpiling_of(tx):
    if tx.stockpiling_id is None:
        return None
    return Stockpiling.get_or_none(Stockpiling.id == tx.stockpiling_id)


def _attempts(tx):
    """The attempts at this transaction: by its id, or by its number at its merchant and
    payment system. At most ``MAX_ATTEMPTS``: the earliest and the latest half; with
    how many between them are left out."""
    same_number = ((ActivationAttempt.payment_system == tx.payment_system_id)
                   & (ActivationAttempt.transaction_number == tx.transaction_number))
    # Always the transaction's merchant's: never another merchant's visitors.
    query = ActivationAttempt.select().where((ActivationAttempt.merchant == tx.merchant_id)
                                             & ((ActivationAttempt.transaction == tx.id) | same_number))
    rows = list(query.order_by(ActivationAttempt.created_at, ActivationAttempt.id).limit(MAX_ATTEMPTS + 1))
    if len(rows) <= MAX_ATTEMPTS:
        return rows, 0
    half = MAX_ATTEMPTS // 2
    last = list(query.order_by(ActivationAttempt.created_at.desc(), ActivationAttempt.id.desc()).limit(half))
    return rows[:half] + last[::-1], query.count() - 2 * half


def _reported(tx, audits, actors, for_operator):
    details = {_("Amount"): _money(tx.amount, tx.currency)}
    if tx.counterparty:
        details[_("Sender") if tx.direction == "incoming" else _("Recipient")] = tx.counterparty
    manual = next((a for a in audits if a.action == "transaction.create_manual"), None)
    if tx.type == "manual" or manual is not None:
        actor = actors(manual.user_id) if manual is not None else ""
        title = _("Entered by hand by %(who)s", who=actor) if actor else _("Entered by hand")
        return Entry(tx.created_at, "reported", title, details=details, actor=actor, tone="info", seq=tx.id)
    connector = ConnectorToken.get_or_none(ConnectorToken.id == tx.connector_id) if tx.connector_id else None
    if connector is not None and (for_operator or CONNECTOR_NAMES_FOR_MERCHANTS):
        title = _("Reported by the connector “%(name)s”", name=connector.name)
    elif tx.connector_id is not None:
        title = _("Reported by the payment system's connector")
    else:
        title = _("Reported")
    text = _("The time is when the payment occurred, as reported.")
    return Entry(tx.created_at, "reported", title, text=text, details=details, tone="info", seq=tx.id)


def _audit_entries(audits, actors, for_operator):
    entries = []
    for a in audits:
        who = actors(a.user_id, nobody=_("the system"))
        summary = a.summary or {}
        if a.action == "transaction.conflicting_report":
            if not for_operator:  # it names what was reported: maybe another merchant's wallet
                continue
            details = {_("Differences"): ", ".join(str(d) for d in summary.get("differences", []))}
            if summary.get("reported_amount"):
                details[_("Reported amount")] = _money(summary["reported_amount"], None)
            if summary.get("reported_wallet"):
                details[_("Reported wallet")] = summary["reported_wallet"]
            entries.append(Entry(a.created_at, "conflicting_report",
                                 _("Reported again with other details: the report was refused"),
                                 details=details, actor=who if a.user_id else "", tone="warning", seq=a.id))
        elif a.action == "transaction.activate_manually":
            outcome = summary.get("outcome", "")
            details = {_("Label"): summary.get("label", "")}
            if outcome:
                details[_("Outcome")] = str(labels.ACTIVATION_OUTCOME.get(outcome, outcome))
            tone = "success" if outcome in ("activated", "stockpiling") else "danger"
            entries.append(Entry(a.created_at, "manual_activation",
                                 _("Activated by hand for the label “%(label)s” by %(who)s",
                                   label=summary.get("label", ""), who=who),
                                 details=details, actor=who, tone=tone, seq=a.id))
        elif a.action == "transaction.mark_fraud":
            entries.append(Entry(a.created_at, "fraud_mark", _("Marked as fraud by %(who)s", who=who),
                                 text=_("A fraud-marked payment cannot be activated; a completed deposit is "
                                        "reversed."), actor=who, tone="danger", seq=a.id))
        elif a.action == "transaction.mark_normal":
            entries.append(Entry(a.created_at, "normal_mark", _("Fraud mark withdrawn by %(who)s", who=who),
                                 text=_("Marked as normal again; a reversed deposit is credited again."),
                                 actor=who, tone="info", seq=a.id))
    return entries


def _event(event_type):
    """An event type in words ("Deposit completed"), its code when it has none."""
    return str(labels.EVENT_TYPE.get(event_type, event_type))


def _attempt_entries(tx, attempts, left_out):
    entries = []
    for a in attempts:
        reason = str(labels.ATTEMPT_REASON.get(a.reason, a.reason))
        details = {_("The visitor was told"): str(labels.ATTEMPT_OUTCOME.get(a.outcome, a.outcome)),
                   _("Reason code"): labels.Code(a.reason)}  # a code, shown as one
        if a.label:
            details[_("Label")] = a.label
        if a.network:
            details[_("Visitor's network")] = a.network
        if a.sender and a.sender != tx.counterparty:
            details[_("Sender")] = a.sender
        title = (_("Activation attempt by the label “%(label)s”: %(reason)s", label=a.label, reason=reason)
                 if a.label else _("Activation attempt: %(reason)s", reason=reason))
        entries.append(Entry(a.created_at, "attempt", title, details=details,
                             tone=REASON_TONES.get(a.reason, "danger"), seq=a.id))
    if left_out:  # said on the first attempt after the gap
        entries[MAX_ATTEMPTS // 2].text = ngettext("%(num)d attempt before this one is not shown.",
                                                   "%(num)d attempts before this one are not shown.", left_out)
    return entries


def _activation_entries(tx, sp, attempts, audits):
    """The activation itself and the visitor's stockpiling."""
    entries = []
    if tx.activated_at is None:
        return entries
    explained = any(a.transaction == tx.id and a.reason in ("activated", "stockpiling", "review") for a in attempts) \
        or any(a.action == "transaction.activate_manually" for a in audits)
    details = {}
    if tx.label:
        details[_("Label")] = tx.label
    if tx.order_id:
        details[_("Order ID")] = tx.order_id
    if sp is not None:
        details[_("Stockpiling")] = f"#{sp.id}"
        accumulated = _("Accumulated") if sp.status == "completed" else _("Accumulated so far")
        details[accumulated] = _money(sp.accumulated_amount, sp.currency)
        details[_("Required")] = _money(sp.required_amount, sp.currency)
        if sp.created_at is not None and sp.created_at != tx.activated_at:
            details[_("Stockpiling opened")] = sp.created_at
        entries.append(Entry(tx.activated_at, "stockpiling_joined",
                             _("Activated for the label “%(label)s”: below the minimum deposit, it joined the "
                               "visitor's stockpiling #%(id)d", label=tx.label or "", id=sp.id),
                             details=details, tone="info", seq=sp.id))
        if sp.status == "completed" and sp.completed_at is not None:
            entries.append(Entry(sp.completed_at, "stockpiling_completed",
                                 _("Stockpiling #%(id)d completed: %(accumulated)s of %(required)s required",
                                   id=sp.id, accumulated=_money(sp.accumulated_amount, sp.currency),
                                   required=_money(sp.required_amount, sp.currency)),
                                 text=_("Its payments make one deposit."), tone="success", seq=sp.id))
    elif not explained:
        entries.append(Entry(tx.activated_at, "activated",
                             _("Activated for the label “%(label)s”", label=tx.label or ""),
                             details=details, tone="success", seq=tx.id))
    return entries


def _reviews(tx, sp):
    where = DepositReview.transaction == tx.id
    if sp is not None:  # a stockpiling's review names the member whose activation completed it
        members = Transaction.select(Transaction.id).where(Transaction.stockpiling == sp.id)
        where = where | DepositReview.transaction.in_(members)
    return list(DepositReview.select().where(where).order_by(DepositReview.created_at, DepositReview.id))


def _review_entries(reviews, actors):
    entries = []
    for r in reviews:
        rule = str(REVIEW_RULES.get(r.rule, r.rule))
        details = {_("Amount"): _money(r.amount, r.currency), _("Label"): r.label, _("Rule"): rule}
        entries.append(Entry(r.created_at, "review_held",
                             _("Held for review: %(rule)s", rule=rule),
                             text=_("Activated but not complete: nothing is credited or sent until an operator "
                                    "decides; the visitor sees “pending”."),
                             details=details, tone="warning", seq=r.id))
        if r.status in ("approved", "refused") and r.decided_at is not None:
            who = actors(r.decided_by_id)
            decided = {}
            if r.note:
                decided[_("Note")] = r.note
            if r.status == "approved":
                title = _("Approved in review by %(who)s", who=who) if who else _("Approved in review")
                text, tone = _("The deposit completes: it is credited and its postback sent."), "success"
            else:
                title = _("Refused in review by %(who)s", who=who) if who else _("Refused in review")
                text, tone = _("Nothing is credited."), "danger"
            entries.append(Entry(r.decided_at, "review_decided", title, text=text, details=decided, actor=who,
                                 tone=tone, seq=r.id))
    return entries


def _ledger(tx, sp):
    where = (LedgerEntry.source_type == "transaction") & (LedgerEntry.source_id == tx.id)
    if sp is not None:
        where = where | ((LedgerEntry.source_type == "stockpiling") & (LedgerEntry.source_id == sp.id))
    return list(LedgerEntry.select().where(where).order_by(LedgerEntry.created_at, LedgerEntry.id))


def _ledger_entries(rows, actors):
    entries = []
    reversed_sources = set()  # a deposit after a reversal of the same source: booked back
    for e in rows:
        details = {_("Amount"): _money(e.amount, e.currency),
                   _("Available after"): _money(e.available_after, e.currency)}
        if e.hold:
            details[_("On hold after")] = _money(e.on_hold_after, e.currency)
        if e.source_type == "stockpiling":
            details[_("For")] = _("the whole stockpiling #%(id)d", id=e.source_id)
        if e.memo:
            details[_("Memo")] = e.memo
        who = actors(e.actor_id)
        if who:
            details[_("By")] = who
        if e.kind == "deposit_reversal":
            reversed_sources.add((e.source_type, e.source_id))
        if e.kind == "deposit" and (e.source_type, e.source_id) in reversed_sources:
            title = _("Credited again (fraud mark withdrawn)")
        else:
            title = str(LEDGER_TITLES.get(e.kind, e.kind))
        tone = "danger" if e.kind == "deposit_reversal" else ("secondary" if e.kind == "commission" else "success")
        entries.append(Entry(e.created_at, "ledger", title, details=details, actor=who, tone=tone, seq=e.id))
    return entries


def _postback_entries(tx, sp):
    where = (Postback.object_type == "transaction") & (Postback.object_id == tx.id)
    if sp is not None:
        where = where | ((Postback.object_type == "stockpiling") & (Postback.object_id == sp.id))
    postbacks = list(Postback.select(Postback, WebhookEndpoint.url)
                     .join(WebhookEndpoint, JOIN.LEFT_OUTER, on=(Postback.endpoint == WebhookEndpoint.id))
                     .where(where).order_by(Postback.created_at, Postback.id).objects())
    if not postbacks:
        return []
    by_id = {p.id: p for p in postbacks}
    entries = []
    for p in postbacks:
        details = {_("Event"): labels.Code(p.event_type), _("Event ID"): p.event_id,  # the title names it
                   _("Status"): str(labels.POSTBACK_STATUS.get(p.status, p.status))}
        if getattr(p, "url", None):
            details[_("Endpoint")] = p.url
        if p.delivery > 1:
            details[_("Deliveries")] = str(p.delivery)
        if p.status == "error" and not p.attempts:  # ended without an attempt (e.g. its endpoint was disabled)
            failure = delivery_errors.describe(p.last_error)
            if failure is not None:
                details[_("Error")] = failure
        tone = {"sent": "success", "error": "danger"}.get(p.status, "secondary")
        entries.append(Entry(p.created_at, "postback", _("Postback “%(event)s” queued", event=_event(p.event_type)),
                             details=details, tone=tone, seq=p.id))
    attempts = (PostbackAttempt.select().where(PostbackAttempt.postback.in_(list(by_id)))
                .order_by(PostbackAttempt.attempted_at, PostbackAttempt.id))
    numbers = {}
    for a in attempts:
        p = by_id[a.postback_id]
        numbers[p.id] = numbers.get(p.id, 0) + 1
        ok = a.http_status is not None and 200 <= a.http_status < 300 and not a.error
        details = {}
        if a.http_status is not None:
            details[_("HTTP status")] = str(a.http_status)
        if a.duration_ms is not None:
            details[_("Duration")] = _("%(ms)d ms", ms=a.duration_ms)
        failure = None if ok else delivery_errors.describe(a.error, a.http_status)
        if failure is not None:
            details[_("Error")] = failure  # a sentence; its page keeps the technical text in <details>
        if getattr(p, "url", None):
            details[_("Endpoint")] = p.url
        if a.delivery > 1:
            details[_("Delivery")] = str(a.delivery)
        title = (_("Postback “%(event)s” delivered (attempt %(n)d)", event=_event(p.event_type), n=numbers[p.id])
                 if ok else _("Postback “%(event)s” attempt %(n)d failed", event=_event(p.event_type), n=numbers[p.id]))
        entries.append(Entry(a.attempted_at, "postback_attempt", title, details=details,
                             tone="success" if ok else "danger", seq=a.id))
    return entries


def timeline(tx, for_operator):
    """The entries of transaction ``tx``'s timeline, oldest first.

    ``for_operator``: the viewer is an operator (sees operators' logins, connector
    names and refused conflicting reports); otherwise a user of the transaction's
    merchant (who sees "Operator" for platform staff)."""
    sp = _stockpiling_of(tx)
    # By merchant first (the log's index); every entry about a transaction names its merchant.
    audits = list(AuditLog.select().where((AuditLog.merchant == tx.merchant_id)
                                          & (AuditLog.object_type == "transaction")
                                          & (AuditLog.object_id == str(tx.id))
                                          & AuditLog.action.in_(AUDIT_ACTIONS))
                  .order_by(AuditLog.created_at, AuditLog.id))
    attempts, left_out = _attempts(tx)
    reviews, ledger_rows = _reviews(tx, sp), _ledger(tx, sp)
    actors = _Actors([a.user_id for a in audits] + [r.decided_by_id for r in reviews]
                     + [e.actor_id for e in ledger_rows], for_operator)

    entries = [_reported(tx, audits, actors, for_operator)]
    entries += _audit_entries(audits, actors, for_operator)
    entries += _attempt_entries(tx, attempts, left_out)
    entries += _activation_entries(tx, sp, attempts, audits)
    entries += _review_entries(reviews, actors)
    entries += _ledger_entries(ledger_rows, actors)
    entries += _postback_entries(tx, sp)
    entries = [e for e in entries if e.at is not None]
    entries.sort(key=lambda e: e.sort_key)
    return entries
