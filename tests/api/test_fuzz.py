"""API fuzzing (issue 8): schemathesis against ``/api/v1/openapi.json``, in-process (WSGI),
on SQLite and PostgreSQL.

* ``test_schemathesis``: every documented operation, schemathesis's own positive and
  negative generation (bounded, derandomized), each with the right bearer token. Checks:
  no 5xx, status code / content type / headers / body documented, schema-invalid input
  refused (``negative_data_rejection``), authentication enforced (``ignored_auth``), and
  no 2xx for a request whose amount is not plain, positive money (``money_is_strict``).
* ``test_realistic``: the write operations again with bodies that mix the seeded
  merchant's real codes, wallets, numbers, ids and signatures with junk, so the fuzzer
  also reaches the deep answers (201/200/409, the activation outcomes) and their
  documented shapes; afterwards every stored amount is still plain positive money.
  ``test_realistic_uploads`` does the same for the CSS and GIF uploads.
* ``test_malformed_money_*``: each malformed amount (negative, NaN, 1e400, 20 decimals,
  non-numeric, non-ASCII digits, spaces...) is a 400 naming ``amount`` in the documented
  Error shape, and nothing at all was written to the database.
* 401s without or with a wrong token, 429s of the plugin API, NUL in paths and queries:
  answered as documented.
"""
import base64
import io
import json
import re
from decimal import Decimal

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.checks import load_all_checks
from withdrawal_support import VALID_FIELDS, fund, seed_payment_systems

import factories
from backoffice.db import db
from backoffice.models import ALL_MODELS, ConnectorToken, Transaction, Withdrawal
from backoffice.plugin_builder.signing import label_signature
from backoffice.security import new_connector_token, token_digest
from backoffice.services.webhooks import EVENT_TYPES
from conftest import make_test_config

load_all_checks()
from schemathesis import checks as st_checks  # noqa: E402 - the built-ins exist once loaded

EXAMPLES = 25  # per operation and generation mode: ~1,000 requests per backend in all
REALISTIC_EXAMPLES = 40
_STRICT_MONEY = re.compile(r"[0-9]{1,16}(\.[0-9]{1,2})?")


def _acceptable_money(value):
    """What a 2xx may have been given as an amount: a positive amount with <= 2 decimals."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, float):
        value = repr(value)  # how the app reads a JSON number
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str) or not _STRICT_MONEY.fullmatch(value):
        return False
    return Decimal("0") < Decimal(value) <= Decimal("9999999999999999.99")


@schemathesis.check
def money_is_strict(ctx, response, case):
    """A 2xx answer to a request carrying a malformed amount would mean it was accepted."""
    if 200 <= response.status_code < 300 and isinstance(case.body, dict) and "amount" in case.body:
        if not _acceptable_money(case.body["amount"]):
            raise AssertionError(f"accepted the malformed amount {case.body['amount']!r} "
                                 f"({case.method} {case.path} -> {response.status_code})")
    return None


CONFORMANCE = [st_checks.not_a_server_error, st_checks.status_code_conformance,
               st_checks.content_type_conformance, st_checks.response_schema_conformance,
               st_checks.response_headers_conformance, money_is_strict]
CHECKS = CONFORMANCE + [st_checks.negative_data_rejection, st_checks.ignored_auth]

OPERATIONS = [
    ("POST", "/api/v1/ps/transactions"),
    ("POST", "/api/v1/withdrawals"),
    ("GET", "/api/v1/withdrawals/{withdrawal_id}"),
    ("POST", "/api/v1/withdrawals/{withdrawal_id}/cancel"),
    ("GET", "/api/v1/withdrawals/{withdrawal_id}/receipt"),
    ("GET", "/api/v1/transactions"),
    ("GET", "/api/v1/balances"),
    ("GET", "/api/v1/balance/entries"),
    ("GET", "/api/v1/webhook-endpoints"),
    ("POST", "/api/v1/webhook-endpoints"),
    ("GET", "/api/v1/webhook-endpoints/{endpoint_id}"),
    ("PATCH", "/api/v1/webhook-endpoints/{endpoint_id}"),
    ("DELETE", "/api/v1/webhook-endpoints/{endpoint_id}"),
    ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret"),
    ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/recover"),
    ("GET", "/api/v1/events"),
    ("GET", "/api/v1/events/{event_id}"),
    ("PUT", "/api/v1/plugin/theme"),
    ("PUT", "/api/v1/plugin/prompts/{payment_system}"),
    ("POST", "/api/v1/plugin/sessions"),
    ("GET", "/plugin/api/config"),
    ("GET", "/plugin/api/origin"),
    ("POST", "/plugin/api/activate"),
    ("POST", "/plugin/api/pending"),
    ("POST", "/plugin/api/appeals"),
    ("GET", "/plugin/api/appeals/{public_id}"),
    ("GET", "/api/v1/openapi.json"),
]
FUZZ_SETTINGS = dict(derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                     print_blob=True)


@pytest.fixture
def app_config(database_url, redis_url, tmp_path):
    # The plugin API's rate limits would answer 429 after a few dozen examples: the fuzzer
    # is to reach the endpoint (tests/plugin_builder prove the limits themselves).
    generous = "100000 per minute"
    return make_test_config(database_url, redis_url, tmp_path / "instance", PLUGIN_LIMIT_PER_ADDRESS=generous,
                            PLUGIN_LIMIT_PER_LABEL=generous, PLUGIN_LIMIT_PER_NUMBER=generous,
                            PLUGIN_CONFIG_LIMIT=generous, PLUGIN_APPEAL_LIMIT=generous, PLUGIN_ORIGIN_LIMIT=generous,
                            PLUGIN_LIMIT_PENDING=generous, APPEALS_OPEN_PER_LABEL=100000)


@pytest.fixture
def seeded(conn):
    """A merchant with an API key, every demo payment system, wallets, reported (new,
    activated, fraud, outgoing) transactions, a withdrawal; a second, delayed-activation
    merchant that signs labels; a connector token for every payment system; a webhook
    endpoint of each merchant."""
    systems = seed_payment_systems()
    m = factories.merchant(timezone="Asia/Dhaka")
    signed = factories.merchant(timezone="Pacific/Kiritimati", delayed_activation=True, require_signed_labels=True)
    wallets = []
    for ps in systems.values():
        factories.merchant_payment_system(m, ps, min_deposit="500.00")
        factories.merchant_payment_system(signed, ps, min_deposit="300.00")
        wallets.append(factories.wallet(m, ps))
        wallets.append(factories.wallet(signed, ps))
    bkash = systems["bkash"]
    fund(m, bkash, amount="100000.00", wallet=wallets[0])
    numbers = ["FZNEW1", "FZNEW2", "FZSMALL", "FZFRAUD", "FZOUT", "FZSIGNED"]
    factories.transaction(wallets[0], amount="600.00", transaction_number="FZNEW1")
    factories.transaction(wallets[0], amount="800.00", transaction_number="FZNEW2")
    factories.transaction(wallets[0], amount="100.00", transaction_number="FZSMALL")
    factories.transaction(wallets[0], amount="700.00", transaction_number="FZFRAUD", originality="fraud")
    factories.transaction(wallets[0], amount="50.00", transaction_number="FZOUT", direction="outgoing")
    factories.transaction(wallets[1], amount="400.00", transaction_number="FZSIGNED")
    factories.withdrawal(m, bkash, amount="10.00", withdrawal_id="wd-seeded", label="payer",
                         fields=VALID_FIELDS["bkash"])
    token = new_connector_token()
    ConnectorToken.create(name="fuzz", token_hash=token_digest(token), payment_systems=list(systems))
    hook = factories.endpoint(m, "http://127.0.0.1:8080/hook")
    factories.endpoint(signed, "http://127.0.0.1:8080/theirs")  # another merchant's: 404 for m
    return dict(systems=systems, m=m, signed=signed, wallets=wallets, numbers=numbers, endpoint=hook,
                connector={"Authorization": f"Bearer {token}"},
                merchant={"Authorization": f"Bearer {m.api_key}"})


def load_schema(app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def auth_for(operation, seeded):
    schemes = {name for requirement in operation.definition.raw.get("security", []) for name in requirement}
    if "connectorToken" in schemes:
        return dict(seeded["connector"])
    if "merchantApiKey" in schemes:
        return dict(seeded["merchant"])
    return {}


def database_counts():
    with db.connection_context():
        return {model.__name__: model.select().count() for model in ALL_MODELS}


def stored_money_is_plain():
    for model in (Transaction, Withdrawal):
        for amount in model.select(model.amount).tuples():
            assert amount[0] > 0 and amount[0] == amount[0].quantize(Decimal("0.01")), (model.__name__, amount)


# -- schemathesis's own generation ------------------------------------------------------

def test_every_documented_operation_is_fuzzed(app, conn):
    documented = {(method.upper(), path) for path, item in load_schema(app).raw_schema["paths"].items()
                  for method in item}
    assert documented == set(OPERATIONS)


# The document itself takes no input: there is nothing to make invalid.
FUZZ_RUNS = [(m, p, mode) for m, p in OPERATIONS for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
             if not (p == "/api/v1/openapi.json" and mode == GenerationMode.NEGATIVE)]


@pytest.mark.parametrize("method,path,mode", FUZZ_RUNS, ids=[f"{m} {p} {mode.value}" for m, p, mode in FUZZ_RUNS])
def test_schemathesis(app, seeded, method, path, mode):
    operation = load_schema(app)[path][method]
    headers = auth_for(operation, seeded)

    @settings(max_examples=EXAMPLES, **FUZZ_SETTINGS)
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()
    stored_money_is_plain()


# -- realistic bodies: the seeded vocabulary mixed with junk ---------------------------

# (inf and NaN as JSON numbers: the raw-JSON tests below; a JSON encoder refuses them.)
MALFORMED_MONEY = [-1, "-1", "-0.01", "NaN", "nan", "Infinity", "-Infinity", "1e400", "1e3", -0.5,
                   "0.00000000000000000001", 0.001, "0.001", "abc", "", None, True, False, [], {},
                   "1,000.00", " 5 ", "5\n", "\u0665\u0660\u0660", "0", 0, "0.00", "00000000000000001.00",
                   "99999999999999999", 1e16, 10**17, "+5", ".5", "5."]
junk_text = st.text(max_size=12)
good_money = st.sampled_from(["1.00", "5.5", "100", "250.00", "600.00", 500, 12.5, "99999.99"])
bad_money = st.one_of(st.sampled_from(MALFORMED_MONEY), st.decimals(allow_nan=True, allow_infinity=True).map(str),
                      st.floats(allow_nan=False, allow_infinity=False), st.integers(), junk_text)
HOOK_URLS = ["http://127.0.0.1:8080/a", "https://127.0.0.1/b", "http://localhost:8443/c"]
BAD_HOOK_URLS = ["ftp://127.0.0.1/x", "javascript:alert(1)", "http://", "", "http://127.0.0.1:8080/" + "x" * 2000]
junk_value = st.one_of(junk_text, st.integers(), st.none(), st.booleans(), st.lists(st.integers(), max_size=2),
                       st.dictionaries(junk_text, junk_text, max_size=2))
DROP = object()


def maybe(strategy):
    """A parameter that is sometimes left out (None: the key is dropped)."""
    return st.one_of(st.none(), strategy)


def body_of(**fields):
    return st.fixed_dictionaries(fields).map(lambda d: {k: v for k, v in d.items() if v is not None})


@st.composite
def mixed(draw, valid, junk):
    """A plausible body (``valid``: a strategy of dicts) with up to 3 fields dropped or replaced
    by junk (``junk``: per-field strategies; others get ``junk_value``). Shrinks to no faults."""
    body = dict(draw(valid))
    for name in draw(st.lists(st.sampled_from(sorted(set(body) | set(junk))), max_size=3, unique=True)):
        value = draw(st.one_of(st.just(DROP), junk.get(name, junk_value)))
        if value is DROP:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def realistic_cases(operation, seeded):
    m, signed = seeded["m"], seeded["signed"]
    numbers = seeded["numbers"] + ["FZUNKNOWN", "FZ-LATE-1", "FZ-LATE-2"]
    labels = st.sampled_from(["payer", "u-1", "u-2"])
    name = f"{operation.method.upper()} {operation.path}"
    if name == "POST /api/v1/ps/transactions":
        valid = st.tuples(st.sampled_from(seeded["wallets"]), st.sampled_from(numbers), good_money,
                          st.sampled_from(["incoming", "outgoing"])).map(lambda t: {
                              "payment_system": t[0].payment_system.code, "wallet_number": t[0].number,
                              "transaction_number": t[1], "amount": t[2], "currency": t[0].payment_system.currency,
                              "direction": t[3], "counterparty": "01800000000",
                              "occurred_at": "2026-01-01T10:00:00Z"})
        junk = {"amount": bad_money, "currency": st.sampled_from(["USD", "bdt", "BD"]),
                "direction": st.sampled_from(["sideways", ""]), "payment_system": st.sampled_from(["nope", "BKASH"]),
                "occurred_at": st.sampled_from(["2026-01-01T10:00:00", "yesterday", "0001-01-01T00:00:00+14:00",
                                                "9999-12-31T23:59:59-12:00", "2026-02-30T10:00:00Z"])}
    elif name == "POST /api/v1/withdrawals":
        ids = st.one_of(st.just("wd-seeded"), st.from_regex(r"wd-[0-9]{1,2}", fullmatch=True))
        valid = st.tuples(st.sampled_from(["bkash", "bkash", "upi", "paytm"]), good_money, labels, ids).map(
            lambda t: {"withdrawal_id": t[3], "payment_system": t[0], "amount": t[1],
                       "currency": seeded["systems"][t[0]].currency, "label": t[2],
                       "fields": dict(VALID_FIELDS[t[0]]), "comment": "payout"})
        junk = {"amount": bad_money, "withdrawal_id": st.sampled_from(["wd 3", "x" * 101, "", "wd/4"]),
                "fields": st.one_of(junk_value, st.dictionaries(
                    st.sampled_from(["recipient_wallet", "recipient_name", "email", "bank_name", "x"]), junk_value)),
                "currency": st.sampled_from(["USD", "INR", "BDT"]), "payment_system": st.sampled_from(["nope", "upi"])}
    elif name in ("POST /plugin/api/activate", "POST /plugin/api/pending"):  # the same body
        def sign(d):
            if d.get("merchant") == signed.public_key and isinstance(d.get("label"), str):
                order_id = d.get("order_id") if isinstance(d.get("order_id"), str) else None
                d = dict(d, signature=label_signature(signed.api_key, d["label"], order_id))
            return d

        valid = st.tuples(st.sampled_from([m, m, signed]), st.sampled_from(["bkash", "nagad"]),
                          st.sampled_from(numbers), labels, st.sampled_from([None, "o-1"])).map(lambda t: {
                              "merchant": t[0].public_key, "payment_system": t[1], "transaction_number": t[2],
                              "label": t[3], **({"order_id": t[4]} if t[4] else {})})
        junk = {"merchant": st.sampled_from(["nope", ""]), "signature": st.sampled_from(["00" * 32, "zz"]),
                "payment_system": st.sampled_from(["nope", "upi"])}
        return mixed(valid, junk).map(sign).map(lambda b: operation.Case(body=b, media_type="application/json"))
    elif name == "POST /api/v1/webhook-endpoints":
        valid = body_of(url=st.sampled_from(HOOK_URLS), description=maybe(st.sampled_from(["orders", ""])),
                        event_types=maybe(st.lists(st.sampled_from(EVENT_TYPES), max_size=3)))
        junk = {"url": st.sampled_from(BAD_HOOK_URLS), "event_types": st.sampled_from([["nope"], "test", None, [1]]),
                "description": st.sampled_from([None, 5, "x" * 501, "a\x00b"]), "enabled": st.booleans()}
    elif name in ("PATCH /api/v1/webhook-endpoints/{endpoint_id}",
                  "POST /api/v1/webhook-endpoints/{endpoint_id}/recover"):
        if name.endswith("recover"):
            valid = body_of(since=st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01", "2026-06-01T10:00+05:30"]))
            junk = {"since": st.sampled_from(["2026-01-01T00:00:00", "2999-01-01T00:00:00Z", "2026-02-30", 5, ""])}
        else:
            valid = body_of(url=maybe(st.sampled_from(HOOK_URLS)), enabled=maybe(st.booleans()),
                            event_types=maybe(st.lists(st.sampled_from(EVENT_TYPES), max_size=2)))
            junk = {"url": st.sampled_from(BAD_HOOK_URLS), "enabled": st.sampled_from(["yes", None, 1])}
        ids = st.sampled_from([seeded["endpoint"].id, seeded["endpoint"].id, seeded["endpoint"].id + 1, 0])
        return st.tuples(ids, mixed(valid, junk)).map(lambda t: operation.Case(
            path_parameters={"endpoint_id": t[0]}, body=t[1], media_type="application/json"))
    else:
        raise AssertionError(name)
    return mixed(valid, junk).map(lambda b: operation.Case(body=b, media_type="application/json"))


def realistic_gets(operation, seeded):
    name = f"{operation.method.upper()} {operation.path}"
    m = seeded["m"]
    codes = sorted(seeded["systems"]) + ["nope"]
    if name == "GET /api/v1/withdrawals/{withdrawal_id}":
        return st.sampled_from(["wd-seeded", "wd-1", "nope", "x" * 101, "a.b:c-d_e"]).map(
            lambda w: operation.Case(path_parameters={"withdrawal_id": w}))
    if name == "GET /api/v1/transactions":
        query = body_of(
            payment_system=maybe(st.sampled_from(codes)),
            label=maybe(st.sampled_from(["payer", "u-1"])),
            transaction_number=maybe(st.sampled_from(seeded["numbers"])),
            direction=maybe(st.sampled_from(["incoming", "outgoing", "up"])),
            status=maybe(st.sampled_from(["new", "activated"])),
            originality=maybe(st.sampled_from(["normal", "fraud"])),
            created_from=maybe(st.sampled_from(["2020-01-01", "1900-01-01", "0001-01-01", "2026-13-01"])),
            created_to=maybe(st.sampled_from(["2099-12-31", "9998-12-31", "9999-12-31"])),
            activated_from=maybe(st.sampled_from(["2020-01-01"])),
            limit=maybe(st.sampled_from(["1", "2", "500", "501", "0", "-1", "x"])),
            cursor=maybe(st.sampled_from(["20260101000000000000.5", "99999999999999999999.1", "garbage"])),
            id=maybe(st.sampled_from(["1", "99999999999999999999", "-3"])),
        )
        return query.map(lambda q: operation.Case(query=q))
    if name == "GET /api/v1/events":
        query = body_of(
            type=maybe(st.sampled_from(["deposit.completed", "test", "deposit"])),
            since=maybe(st.sampled_from(["2020-01-01", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "9999-12-31"])),
            until=maybe(st.sampled_from(["2099-12-31", "2099-01-01T00:00:00+14:00", "2019-01-01", "x"])),
            limit=maybe(st.sampled_from(["1", "500", "501", "0"])),
            cursor=maybe(st.sampled_from(["1", "9223372036854775807", "0", "garbage"])),
        )
        return query.map(lambda q: operation.Case(query=q))
    if name == "GET /plugin/api/config":
        query = body_of(merchant=maybe(st.sampled_from([m.public_key, seeded["signed"].public_key, "nope"])),
                        label=maybe(st.sampled_from(["u-1", "x" * 300])),
                        payment_systems=maybe(st.sampled_from(["bkash", "bkash,upi", ",,", "NOPE"])))
        return query.map(lambda q: operation.Case(query=q))
    raise AssertionError(name)


REALISTIC = [("POST", "/api/v1/ps/transactions"), ("POST", "/api/v1/withdrawals"), ("POST", "/plugin/api/activate"),
             ("POST", "/plugin/api/pending"),
             ("GET", "/api/v1/withdrawals/{withdrawal_id}"), ("GET", "/api/v1/transactions"),
             ("GET", "/plugin/api/config"), ("POST", "/api/v1/webhook-endpoints"),
             ("PATCH", "/api/v1/webhook-endpoints/{endpoint_id}"),
             ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/recover"), ("GET", "/api/v1/events")]


@pytest.mark.parametrize("method,path", REALISTIC, ids=[f"{m} {p}" for m, p in REALISTIC])
def test_realistic(app, seeded, method, path):
    operation = load_schema(app)[path][method]
    headers = auth_for(operation, seeded)
    strategy = (realistic_gets if method == "GET" else realistic_cases)(operation, seeded)
    seen = set()

    @settings(max_examples=REALISTIC_EXAMPLES, **FUZZ_SETTINGS)
    @given(case=strategy)
    def run(case):
        response = case.call_and_validate(headers=headers, checks=CONFORMANCE)
        seen.add(response.status_code)

    run()
    stored_money_is_plain()
    # The vocabulary reaches past validation, and the junk is refused.
    assert any(200 <= s < 300 for s in seen) and any(400 <= s < 500 for s in seen), seen


# -- the uploads: a real GIF and stylesheets next to junk ------------------------------

def tiny_gif():
    out = io.BytesIO()
    frames = [Image.new("P", (8, 8), color) for color in (1, 2)]
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


@pytest.mark.parametrize("kind", ["theme", "prompt"])
def test_realistic_uploads(app, seeded, kind):
    schema = load_schema(app)
    headers = seeded["merchant"]
    if kind == "theme":
        operation = schema["/api/v1/plugin/theme"]["PUT"]
        bodies = st.one_of(st.sampled_from([".plugin { color: #fff; }", "@import url(x);", "a{b:url(javascript:1)}",
                                            "</style>", "p { color: red }\n" * 5000, ""]), st.text(max_size=40))
        cases = bodies.map(lambda b: operation.Case(body=b, media_type="text/css"))
    else:
        operation = schema["/api/v1/plugin/prompts/{payment_system}"]["PUT"]
        gif = tiny_gif()
        bodies = st.one_of(st.sampled_from([gif, gif[:20], b"GIF89a", b"\x89PNG\r\n", b""]), st.binary(max_size=40))
        cases = st.tuples(st.sampled_from(["bkash", "upi", "nope", "BKASH"]), bodies).map(
            lambda t: operation.Case(path_parameters={"payment_system": t[0]}, body=t[1], media_type="image/gif"))
    seen = set()

    @settings(max_examples=20, **FUZZ_SETTINGS)
    @given(case=cases)
    def run(case):
        seen.add(case.call_and_validate(headers=headers, checks=CONFORMANCE).status_code)

    run()
    assert 200 in seen and 422 in seen, seen


# -- malformed money: every value refused, naming the field; nothing written --------------

def _raw_json(data, amount_literal):
    """A JSON text whose amount is ``amount_literal`` verbatim (1e400, NaN: no Python value)."""
    return json.dumps(dict(data, amount="@@AMOUNT@@")).replace('"@@AMOUNT@@"', amount_literal)


MONEY_CASES = [(repr(v), json.dumps(v)) for v in
               [-1, "-0.01", "NaN", "nan", "Infinity", "1e400", "0.00000000000000000001", "abc", "", None, True,
                [], {}, "1,000.00", " 5 ", "5\n", "\u0665\u0660\u0660", "\uff15\uff10\uff10", "0", "1.123", "-0",
                "0x10", "5e2", "\u0661\u0662\u0663.\u0664\u0665", 0.001, -0.01, 10**17]]
MONEY_CASES += [("1e400 (JSON number)", "1e400"), ("-1e400 (JSON number)", "-1e400"), ("NaN (JSON literal)", "NaN"),
                ("Infinity (JSON literal)", "Infinity"), ("-1E2 (JSON number)", "-1E2"),
                ("1E2 (JSON number)", "1E2"), ("5.5e1 (JSON number)", "5.5e1"), ("1e-2 (JSON number)", "1e-2"),
                ("20 decimals (JSON number)", "0.00000000000000000001")]


def _connector_body(seeded):
    return {"payment_system": "bkash", "wallet_number": seeded["wallets"][0].number, "transaction_number": "FZMONEY",
            "amount": "640.00", "currency": "BDT", "direction": "incoming", "counterparty": "01800000000",
            "occurred_at": "2026-11-27T10:00:00Z"}


def _withdrawal_body(seeded):
    return {"withdrawal_id": "wd-money", "payment_system": "bkash", "amount": "50.00", "currency": "BDT",
            "label": "payer", "fields": VALID_FIELDS["bkash"]}


@pytest.mark.parametrize("endpoint", ["/api/v1/ps/transactions", "/api/v1/withdrawals"])
def test_malformed_money_is_refused_and_nothing_is_written(app, client, seeded, endpoint):
    connector = endpoint.endswith("/ps/transactions")
    data = _connector_body(seeded) if connector else _withdrawal_body(seeded)
    headers = seeded["connector"] if connector else seeded["merchant"]
    operation = load_schema(app)[endpoint]["POST"]
    before = database_counts()
    for name, literal in MONEY_CASES:
        response = client.post(endpoint, data=_raw_json(data, literal), content_type="application/json",
                               headers=headers)
        assert response.status_code in (400, 422), (name, response.status_code, response.get_data(as_text=True))
        error = response.get_json()["error"]
        assert "amount" in [d["field"] for d in error["details"]], (name, error)
        # The answer is the documented Error shape.
        case = operation.Case(body=json.loads(_raw_json(data, '"x"')), media_type="application/json")
        case.validate_response(response, checks=[st_checks.status_code_conformance,
                                                 st_checks.response_schema_conformance])
    assert database_counts() == before
    # The same request with a good amount goes through: each refusal above was the amount's.
    good = client.post(endpoint, json=data, headers=headers)
    assert good.status_code == 201, good.get_json()


def test_a_json_number_amount_is_read_exactly(app):
    """JSON numbers become Decimal, not float: 18 significant digits survive."""
    parsed = app.json.loads('{"amount": 9999999999999999.99, "small": 0.1, "count": 3}')
    assert parsed == {"amount": Decimal("9999999999999999.99"), "small": Decimal("0.1"), "count": 3}
    assert type(parsed["amount"]) is Decimal


# -- the rest of the contract the fuzzer cannot reach on its own -----------------------

def test_a_missing_or_wrong_token_is_a_documented_401(app, client, seeded):
    schema = load_schema(app)
    before = database_counts()
    for method, path in OPERATIONS:
        operation = schema[path][method]
        if not auth_for(operation, seeded):
            continue
        url = path.replace("{withdrawal_id}", "wd-seeded").replace("{payment_system}", "bkash")
        for token in (None, "Bearer nope", "Bearer " + seeded["signed"].api_key[:-1],
                      "Basic " + base64.b64encode(b"a:b").decode()):
            response = client.open(url, method=method, headers={"Authorization": token} if token else {},
                                   data=b"{}", content_type="application/json")
            assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer", (path, token)
            operation.Case().validate_response(
                response, checks=[st_checks.status_code_conformance, st_checks.response_schema_conformance,
                                  st_checks.response_headers_conformance])
    assert database_counts() == before


def test_nul_in_the_path_or_query_is_refused_before_the_database(app, client, seeded):
    headers = seeded["merchant"]
    assert client.get("/plugin/api/config?merchant=%00").status_code == 400
    assert client.get("/api/v1/transactions?label=a%00b", headers=headers).get_json()["error"]["details"] == [
        {"field": "label", "message": "must not contain control characters"}]
    assert client.get("/api/v1/withdrawals/wd%00", headers=headers).status_code == 404
    response = client.put("/api/v1/plugin/prompts/bk%00ash", data=tiny_gif(), headers=headers,
                          content_type="image/gif")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_rate_limited_plugin_answers_are_documented_429s(app, client, seeded):
    schema = load_schema(app)
    app.config.update(PLUGIN_LIMIT_PER_ADDRESS="2 per minute", PLUGIN_CONFIG_LIMIT="2 per minute",
                      PLUGIN_LIMIT_PENDING="2 per minute")
    body = {"merchant": seeded["m"].public_key, "payment_system": "bkash", "transaction_number": "FZUNKNOWN",
            "label": "u-1"}
    for path, method, call in (
            ("/plugin/api/activate", "POST", lambda: client.post("/plugin/api/activate", json=body)),
            ("/plugin/api/pending", "POST", lambda: client.post("/plugin/api/pending", json=body)),
            ("/plugin/api/config", "GET", lambda: client.get("/plugin/api/config?merchant=nope"))):
        statuses = [call().status_code for _ in range(3)]
        response = call()
        assert statuses[-1] == 429 and response.status_code == 429, (path, statuses)
        assert response.get_json()["error"]["code"]
        schema[path][method].Case().validate_response(
            response, checks=[st_checks.status_code_conformance, st_checks.response_schema_conformance])


def test_an_oversized_body_is_a_documented_413(app, client, seeded):
    schema = load_schema(app)
    big = b'{"amount": "' + b"9" * (3 * 1024 * 1024) + b'"}'  # over MAX_CONTENT_LENGTH (2 MiB)
    before = database_counts()
    for path in ("/api/v1/ps/transactions", "/api/v1/withdrawals", "/plugin/api/activate", "/plugin/api/pending"):
        operation = schema[path]["POST"]
        response = client.post(path, data=big, content_type="application/json", headers=auth_for(operation, seeded))
        assert response.status_code == 413, path
        operation.Case().validate_response(response, checks=[st_checks.status_code_conformance,
                                                             st_checks.response_schema_conformance])
    assert database_counts() == before
