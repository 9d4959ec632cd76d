"""Every service error is a ``RuleError``: a message and the faulty fields by name; the
JSON APIs answer any of them in one place with the shape the SPEC fixes."""
import pytest

from backoffice.errors import FieldError, RuleError
from backoffice.money import AmountError, parse_amount
from backoffice.plugin_builder.gif import GifError
from backoffice.security import PasswordError, check_password_rules
from backoffice.services.accounts import AccountError
from backoffice.services.activation import ActivationError
from backoffice.services.checks import SettingsError
from backoffice.services.ingest import IngestError
from backoffice.services.rates import RateImportError, parse_rates
from backoffice.services.withdrawals import (
    AlreadyDecided,
    IdempotencyConflict,
    InsufficientBalance,
    ValidationFailed,
    WithdrawalError,
)


@pytest.mark.parametrize("cls", [AccountError, SettingsError, IngestError, RateImportError, ActivationError,
                                 WithdrawalError, ValidationFailed, InsufficientBalance, IdempotencyConflict,
                                 AlreadyDecided, GifError, AmountError, PasswordError])
def test_every_service_error_is_a_rule_error(cls):
    assert issubclass(cls, RuleError) and issubclass(cls, ValueError)


@pytest.mark.parametrize("exc, fields, message", [
    (AccountError("login", "The login must be an e-mail address."),
     {"login": "The login must be an e-mail address."}, "The login must be an e-mail address."),
    (ActivationError("payment_system", "Nope."), {"payment_system": "Nope."}, "Nope."),
    (IngestError("wallet_number", "No wallet.", status=422), {"wallet_number": "No wallet."}, "No wallet."),
    (SettingsError({"a": "bad a", "b": "bad b"}), {"a": "bad a", "b": "bad b"}, "a: bad a; b: bad b"),
    (ValidationFailed("Invalid.", [{"field": "fields.x", "message": "is required"}]),
     {"fields.x": "is required"}, "Invalid."),
    (GifError("too_large", "The file is over 1 MiB."), {"body": "The file is over 1 MiB."},
     "The file is over 1 MiB."),
    (AmountError("must not be negative"), {}, "must not be negative"),
])
def test_field_errors_and_message(exc, fields, message):
    assert exc.fields == fields and exc.message == message and str(exc) == message


def test_the_services_keep_their_own_attributes():
    account = AccountError("login", "x")
    assert isinstance(account, FieldError) and (account.field, account.message) == ("login", "x")
    settings = SettingsError({"timezone": "Choose a time zone from the list."})
    assert settings.errors == {"timezone": "Choose a time zone from the list."}
    ingest = IngestError("payment_system", "no", status=403)
    assert (ingest.field, ingest.status, ingest.code) == ("payment_system", 403, "forbidden")
    assert IngestError("currency", "no").code == "invalid_request"
    gif = GifError("not_gif", "Not a GIF.")
    assert (gif.rule, gif.status, gif.code) == ("not_gif", 422, "invalid_gif")
    assert gif.detail_list() == [{"field": "body", "rule": "not_gif", "message": "Not a GIF."}]
    withdrawal = ValidationFailed("Invalid.", [{"field": "a", "message": "1"}, {"field": "a", "message": "2"}])
    assert withdrawal.details == withdrawal.detail_list() == [{"field": "a", "message": "1"},
                                                              {"field": "a", "message": "2"}]
    assert (withdrawal.status, withdrawal.code) == (400, "invalid_request")


def test_rate_import_errors_keep_their_lines(ctx):
    with pytest.raises(RateImportError) as caught:
        parse_rates("currency,rate_to_usd,effective_date\nbdt1,-1,2026-13-01\n")
    exc = caught.value
    assert [(line, field) for line, field, _ in exc.errors] == [(2, "currency"), (2, "rate_to_usd"),
                                                               (2, "effective_date")]
    assert set(exc.fields) == {"line 2, currency", "line 2, rate_to_usd", "line 2, effective_date"}
    assert str(exc).startswith("line 2, currency: ")


def test_money_and_password_rules_raise_rule_errors(ctx):
    with pytest.raises(RuleError):
        parse_amount("1e3")
    with pytest.raises(RuleError):
        check_password_rules("short", 8, 256)


def test_detail_list():
    assert RuleError("Bad.", {"a": "x"}).detail_list() == [{"field": "a", "message": "x"}]
    assert RuleError("Bad.").detail_list() == [] and (RuleError.status, RuleError.code) == (400, "invalid_request")
