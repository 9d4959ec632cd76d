"""The OpenAPI document lists every public endpoint with its schemas."""
import re


def test_openapi_document(client, conn):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    for path, method in (("/api/v1/ps/transactions", "post"), ("/plugin/api/activate", "post")):
        operation = doc["paths"][path][method]
        assert "requestBody" in operation and "200" in operation["responses"]
    refs = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    refs.append(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    for ref in refs:
        assert ref.split("/")[-1] in doc["components"]["schemas"], ref


def test_every_api_route_is_documented_with_security_and_error_responses(app, client, conn):
    """Plugin, connector and merchant APIs (SPEC §6): each route and method is in the
    document, states its security (``[]``: public), its parameters, and answers every
    4xx with the Error schema (a 401 with its WWW-Authenticate header)."""
    doc = client.get("/api/v1/openapi.json").get_json()
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/v1/", "/plugin/api/")):
            path = rule.rule.replace("<", "{").replace(">", "}")
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert routes == documented
    spec_section_6 = {("/plugin/api/config", "get"), ("/plugin/api/activate", "post"),
                      ("/api/v1/ps/transactions", "post"), ("/api/v1/withdrawals", "post"),
                      ("/api/v1/withdrawals/{withdrawal_id}", "get"), ("/api/v1/transactions", "get"),
                      ("/api/v1/plugin/theme", "put"), ("/api/v1/plugin/prompts/{payment_system}", "put")}
    assert spec_section_6 <= documented
    for path, method in documented:
        operation = doc["paths"][path][method]
        assert "security" in operation, (path, method)
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert names == set(re.findall(r"{(\w+)}", path)), (path, method)
        assert any(code.startswith("2") for code in operation["responses"]), (path, method)
        if operation["security"]:
            assert "401" in operation["responses"] and "403" in operation["responses"], (path, method)
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
        if "requestBody" in operation:
            assert "413" in operation["responses"], (path, method)
        for code, response in operation["responses"].items():
            assert response.get("description"), (path, method, code)
            if code.startswith("4"):
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    for path in ("/plugin/api/config", "/plugin/api/activate"):
        assert "429" in doc["paths"][path][("get" if path.endswith("config") else "post")]["responses"]
    money = doc["components"]["schemas"]["MoneyInput"]
    for name in ("ConnectorReport", "WithdrawalRequest"):
        assert doc["components"]["schemas"][name]["properties"]["amount"] == {"$ref": "#/components/schemas/MoneyInput"}
    assert money["oneOf"][0]["pattern"] == r"^[0-9]{1,16}(\.[0-9]{1,2})?$"
