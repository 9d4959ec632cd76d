"""Audit entries as sentences (issue 22, point 4).

* every action the code can write (every ``audit.record`` call in ``backoffice/``,
  read from the source: literals, f-strings, constants, an action passed in by callers,
  the operator forms' ``<table>.create/edit/delete``) has a sentence in
  ``admin_views.audit_sentences``;
* the Audit log shows sentences with a readable before → after, never JSON nor "None";
  an action nobody wrote a sentence for reads as a generic sentence with its facts;
* merchants still see "Operator", never an operator's login (a first approver too);
* the CSV export adds a Description column and keeps the stored summary.
"""
import ast
import csv
import io
import os
import re

import pytest
from helpers import login

import factories
from backoffice.admin_views import audit_sentences
from backoffice.admin_views.auditing import AuditedViewMixin
from backoffice.services import activation, audit, matching, merchant_settings, profile, risk

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "backoffice")


# --- every action the code writes -----------------------------------------------------------

def _modules():
    for folder, _dirs, files in os.walk(ROOT):
        if "migrations" in folder:
            continue
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as handle:
                    yield os.path.relpath(path, ROOT), ast.parse(handle.read())


def _is_record(call):
    func = call.func
    return (isinstance(func, ast.Attribute) and func.attr == "record" and isinstance(func.value, ast.Name)
            and func.value.id == "audit")


def _action_arg(call):
    if len(call.args) >= 2:
        return call.args[1]
    return next((k.value for k in call.keywords if k.arg == "action"), None)


class Collector:
    """Every action string an ``audit.record`` call can pass, resolved from the source."""

    def __init__(self, audited_tables):
        self.trees = dict(_modules())
        self.domains = {"self._audit_name()": set(audited_tables), "value": set(activation.ORIGINALITIES)}
        self.actions, self.unresolved = set(), []

    def run(self):
        for path, tree in self.trees.items():
            parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and _is_record(node):
                    found = self.resolve(_action_arg(node), path, tree, node, parents)
                    if found:
                        self.actions |= found
                    else:
                        self.unresolved.append(f"{path}:{node.lineno}")
        return self

    def resolve(self, arg, path, tree, at, parents):
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return {arg.value}
        if isinstance(arg, ast.IfExp):
            body, orelse = (self.resolve(x, path, tree, at, parents) for x in (arg.body, arg.orelse))
            return body | orelse if body and orelse else None
        if isinstance(arg, ast.JoinedStr):
            options = {""}
            for part in arg.values:
                if isinstance(part, ast.Constant):
                    choices = {part.value}
                elif isinstance(part.value, ast.IfExp) and all(
                        isinstance(x, ast.Constant) for x in (part.value.body, part.value.orelse)):
                    choices = {part.value.body.value, part.value.orelse.value}
                else:
                    choices = self.domains.get(ast.unparse(part.value))
                    if not choices:
                        return None
                options = {o + c for o in options for c in choices}
            return options
        if isinstance(arg, ast.Name):
            for node in tree.body:  # a module constant
                if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == arg.id for t in node.targets):
                    return self.resolve(node.value, path, tree, node, parents)
            function = at
            while function is not None and not isinstance(function, ast.FunctionDef):
                function = parents.get(function)
            if function is not None:  # a parameter: what every caller passes
                names = [a.arg for a in function.args.args]
                if arg.id in names:
                    return self.callers(function.name, names.index(arg.id), arg.id)
        return None

    def callers(self, function, index, keyword):
        found = set()
        for path, tree in self.trees.items():
            parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
                if name != function:
                    continue
                arg = node.args[index] if len(node.args) > index else next(
                    (k.value for k in node.keywords if k.arg == keyword), None)
                resolved = self.resolve(arg, path, tree, node, parents)
                if not resolved:
                    return None
                found |= resolved
        return found or None


def audited_tables(app):
    admin = app.extensions["backoffice_admin"]
    return {v.model._meta.table_name for v in admin._views if isinstance(v, AuditedViewMixin)}


def test_every_action_the_code_writes_has_a_sentence(app):
    collected = Collector(audited_tables(app)).run()
    assert not collected.unresolved, f"audit.record calls whose action the test cannot read: {collected.unresolved}"
    # The collector finds what it should (so an empty result cannot pass).
    for action in ("review.approve", "review.refuse", "risk.block", "risk.unblock", "matching_policy.update",
                   "matching_policy.follow_default", "merchant.settings", "merchant.edit", "ledger.verify",
                   "transaction.mark_fraud", "transaction.mark_normal", "wallet.create", "payment_system.delete",
                   "merchant_payment_system.edit", "exchange_rate.edit", "withdrawal.approve", "withdrawal.reject"):
        assert action in collected.actions, action
    missing = sorted(collected.actions - set(audit_sentences.SENTENCES))
    assert not missing, f"audit actions without a sentence in admin_views/audit_sentences.py: {missing}"


# --- the screen ----------------------------------------------------------------------------------

JSON_LIKE = re.compile(r'\{\s*"|\{\'|&#34;\s*:|"\s*:\s*[\[{"]|\bNone\b')


@pytest.fixture
def world(app, conn):
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant(name="Dhaka Shop", timezone="Asia/Dhaka")
    users = dict(operator=factories.user("operator", login="anna@ops.test"),
                 owner=factories.user("merchant_owner", m, login="owner@shop.test"))
    return dict(ps=ps, m=m, **users)


def sample_summary(action):
    """A summary of the shapes the code writes: before/after dicts, lists, booleans, empties."""
    return {"before": {"timezone": "Asia/Dhaka", "active": True, "event_types": [], "note": None},
            "after": {"timezone": "Asia/Kolkata", "active": False, "event_types": ["test"], "note": "x"},
            "login": "someone@shop.test", "amount": "500.00", "currency": "BDT", "withdrawal_id": "W-17",
            "payment_systems": ["bkash"], "nested": {"a": [1, 2], "b": {"c": None}}, "flag": False,
            "empty": None, "differences": ["amount"], "events": 3, "left": 2, "difference_count": 1,
            "since": "2026-01-01T10:00:00", "url": "https://shop.example/hook"}


def test_every_action_reads_as_a_sentence_without_json(app, client, world):
    actions = sorted(set(audit_sentences.SENTENCES) | {"something.nobody_wrote"})
    entries = {a: audit.record(world["operator"], a, world["m"], merchant=world["m"].id, summary=sample_summary(a),
                               ip="10.0.0.1") for a in actions}
    login(client, world["operator"])
    for action, entry in entries.items():
        page = client.get(f"/admin/audit_log/details/?id={entry.id}").get_data(as_text=True)
        cell = page[page.index('class="bo-audit-sentence"'):]
        cell = cell[:cell.index("</td>")]
        assert not JSON_LIKE.search(cell), (action, JSON_LIKE.search(cell).group(0), cell)
        assert "anna@ops.test" in cell or action == "ledger.verify", action  # who acted: operators see the login
        assert "%(" not in cell, (action, cell)  # every placeholder filled
    listing = client.get("/admin/audit_log/?page_size=100").get_data(as_text=True)
    assert listing.count('class="bo-audit-sentence"') == len(actions)
    table = listing[listing.index("<table"):listing.index("</table>")]
    assert '{"' not in table and "&#34;" not in table and "None" not in table
    # The generic sentence of an unknown action lists its facts as label: value.
    unknown = client.get(f"/admin/audit_log/details/?id={entries['something.nobody_wrote'].id}").get_data(
        as_text=True)
    assert "something.nobody_wrote" in unknown and "Nested:" in unknown and "Login:</span> someone@shop.test" in unknown


def test_real_changes_read_as_sentences_with_before_and_after(app, client, world):
    m, operator, owner = world["m"], world["operator"], world["owner"]
    merchant_settings.update_system(m, {"timezone": "Asia/Kolkata"}, owner.id)
    profile.update_profile(operator, "en", "Asia/Dhaka")
    risk.add_block("label", "bad-visitor", merchant_id=m.id, note="chargebacks", actor=operator.id)
    matching.set_policy(m.id, {"require_sender": True, "require_amount": True, "window_minutes": "60"}, operator.id)
    entry = audit.record(operator, "withdrawal.approve", factories.withdrawal(m, world["ps"], amount="500.00"),
                         summary={"status": {"before": "new", "after": "approved"}, "withdrawal_id": "W-17",
                                  "amount": "500.00", "currency": "BDT", "first_approved_by": operator.id})
    login(client, operator)
    page = client.get("/admin/audit_log/").get_data(as_text=True)
    # (time zones by their cities, issue 22 point 5: ``zone_names``)
    assert "owner@shop.test changed the time zone from Dhaka to Kolkata." in page
    assert re.search(r"anna@ops\.test changed the time zone from \(empty\) to Dhaka\.|"
                     r"anna@ops\.test changed the time zone from UTC to Dhaka\.", page)
    assert "anna@ops.test added bad-visitor to the blocklist (Label)." in page
    assert "Note:</span> chargebacks" in page
    assert "anna@ops.test changed the matching policy (this merchant&#39;s own)." in page
    assert "anna@ops.test approved the withdrawal W-17 (500.00\u00a0BDT)." in page
    assert "Status:</span> New" in page and "Approved</li>" in page
    # A merchant user sees "Operator", never the operator's login (the first approver neither).
    owner_client = client.application.test_client()
    login(owner_client, owner)
    page = owner_client.get("/admin/audit_log/").get_data(as_text=True)
    assert "Operator approved the withdrawal W-17 (500.00\u00a0BDT)." in page
    assert "anna@ops.test" not in page
    details = owner_client.get(f"/admin/audit_log/details/?id={entry.id}").get_data(as_text=True)
    assert "First approval by:</span> Operator" in details and "anna@ops.test" not in details


def test_the_csv_export_adds_a_description_and_keeps_the_summary(app, client, world):
    merchant_settings.update_system(world["m"], {"timezone": "Asia/Kolkata"}, world["owner"].id)
    login(client, world["owner"])
    body = client.get("/admin/audit_log/export/csv/").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(body)))
    header = rows[0]
    assert "What happened" in header and "Before / after (JSON)" in header
    row = dict(zip(header, rows[1]))
    assert row["What happened"] == "owner@shop.test changed the time zone from Dhaka to Kolkata."
    assert '"timezone": "Asia/Kolkata"' in row["Before / after (JSON)"]
