"""Migration 0012 (SPEC §11, issue 18): the operators' default matching policy asks for
the sender's digits, so merchants created after it follow that; every merchant that
existed before gets a policy of its own without the rule, so its live integration (a
plugin that sends no digits) keeps working until an operator turns it on.

The old schema is written to with plain SQL; the result is read through today's models
and services (bound to that database)."""
from decimal import Decimal

from playhouse.migrations import Runner

from backoffice.db import MIGRATIONS_DIR
from backoffice.models import MatchingPolicy, Merchant
from backoffice.services import matching
from migration_support import T0, insert, old_database  # noqa: F401 - a fixture

MODELS = [Merchant, MatchingPolicy]


def test_a_fresh_database_gets_the_default_policy_asking_for_the_sender(old_database):
    applied = Runner(old_database, MIGRATIONS_DIR).up()
    assert "0012_matching_risk" in applied
    with old_database.bind_ctx(MODELS):
        (row,) = MatchingPolicy.select()
        assert row.merchant_id is None and row.require_sender is True and row.require_amount is False
        assert row.window_minutes == 24 * 60 and row.amount_tolerance == Decimal("0")
        assert row.velocity_label_hour is None and row.review_above is None
        default = matching.default_policy()
        assert default.require_sender and default.requires() == ["sender_last4"] and not default.own
        # A merchant made now (the demo's too) follows it.
        new = Merchant.create(name="New", public_key="pk_new", api_key="sk_new")
        policy = matching.policy_for(new.id)
        assert policy.require_sender and not policy.own and policy.requires() == ["sender_last4"]
        assert policy.window_minutes == 24 * 60


def test_merchants_that_existed_keep_matching_on_the_number_alone(old_database):
    runner = Runner(old_database, MIGRATIONS_DIR)
    runner.up("0011_webhook_endpoints")
    live = [insert(old_database, "merchant", name=f"Live {i}", public_key=f"pk_{i}", api_key=f"sk_{i}",
                   timezone="UTC", active=True, created_at=T0) for i in range(2)]
    assert runner.up("0012_matching_risk") == ["0012_matching_risk"]
    runner.up()  # and whatever came later
    with old_database.bind_ctx(MODELS):
        rows = {r.merchant_id: r for r in MatchingPolicy.select()}
        assert set(rows) == {None, *live}
        assert rows[None].require_sender is True
        for merchant_id in live:
            own = rows[merchant_id]
            assert own.require_sender is False and own.require_amount is False
            assert own.window_minutes == 24 * 60
            policy = matching.policy_for(merchant_id)
            assert policy.own and not policy.require_sender and policy.requires() == []
        # A merchant added after the migration follows the default: the digits.
        new = Merchant.create(name="New", public_key="pk_new", api_key="sk_new")
        assert matching.policy_for(new.id).requires() == ["sender_last4"]
        # Turning the rule on for an old merchant is its own row's business.
        MatchingPolicy.update(require_sender=True).where(MatchingPolicy.merchant == live[0]).execute()
        assert matching.policy_for(live[0]).requires() == ["sender_last4"]
        assert matching.policy_for(live[1]).requires() == []
