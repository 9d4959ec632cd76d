"""The OpenAPI document lists every public endpoint with its schemas."""


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
