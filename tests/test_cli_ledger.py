"""``backoffice ledger verify [--merchant ID]`` (SPEC §9)."""
from ledger_verify_support import booked_merchant, change_a_transaction, change_an_entry

from backoffice.models import AuditLog


def runs():
    return list(AuditLog.select().where(AuditLog.action == "ledger.verify").order_by(AuditLog.id))


def test_a_consistent_database_exits_0(runner, conn):
    booked_merchant("Clean", 11)
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert "The ledger is consistent." in result.output
    [run] = runs()
    assert run.summary["consistent"] is True and run.user_id is None


def test_a_changed_entry_exits_1_naming_merchant_and_currency(runner, conn):
    m = booked_merchant("Entry Shop", 12)
    booked_merchant("Fine Shop", 13)
    change_an_entry(m)
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 1, result.output
    assert f"merchant {m.id} (Entry Shop) BDT" in result.output
    assert "entries available 2651.00" in result.output and "Fine Shop" not in result.output
    assert "consistent" not in result.output
    assert runs()[-1].summary["outstanding"] == [{"merchant_id": m.id, "merchant": "Entry Shop", "currency": "BDT"}]


def test_a_changed_transaction_exits_1(runner, conn):
    m = booked_merchant("Deposit Shop", 14)
    change_a_transaction(m)
    result = runner.invoke(args=["ledger", "verify"])
    assert result.exit_code == 1, result.output
    assert f"merchant {m.id} (Deposit Shop) BDT" in result.output
    assert "source records available 2660.00" in result.output


def test_merchant_option_limits_the_check(runner, conn):
    broken, fine = booked_merchant("Broken", 15), booked_merchant("Fine", 16)
    change_an_entry(broken)

    result = runner.invoke(args=["ledger", "verify", "--merchant", str(fine.id)])
    assert result.exit_code == 0 and "The ledger is consistent." in result.output
    assert runs()[-1].summary["merchant_id"] == fine.id

    result = runner.invoke(args=["ledger", "verify", "--merchant", str(broken.id)])
    assert result.exit_code == 1 and f"merchant {broken.id} (Broken) BDT" in result.output
    assert "Fine" not in result.output

    result = runner.invoke(args=["ledger", "verify", "--merchant", "999999"])
    assert result.exit_code == 2 and "no merchant 999999" in result.output
    assert len(runs()) == 2  # a refused command checks nothing
