"""The layer contracts of ``.importlinter`` hold, and each of them fails on a
deliberate violation (so none of them is a contract that cannot fail).

The violations are imports added to the real package's import graph, exactly as
grimp would record them had someone written them; the function-local and
``__init__`` cases are checked on a small package written to disk, since those are
about what grimp finds in source.
"""
import copy
import os
import subprocess
import sys
import textwrap

import grimp
import pytest
from importlinter.api import read_configuration
from importlinter.application.use_cases import _get_built_in_contract_types, _parse_contract_type_string

from layer_contracts import NoCyclesContract

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, ".importlinter")


@pytest.fixture(scope="module")
def contracts():
    config = read_configuration(CONFIG)
    types = dict(_get_built_in_contract_types())
    for spec in config["session_options"]["contract_types"]:
        name, cls = _parse_contract_type_string(spec)
        types[name] = cls
    built = {}
    for options in config["contracts_options"]:
        options = dict(options)
        cls = types[options.pop("type")]
        key = options.pop("id")
        built[key] = cls(name=options.pop("name"), session_options=config["session_options"],
                         contract_options=options)
    return built


@pytest.fixture(scope="module")
def package_graph():
    return grimp.build_graph("backoffice", include_external_packages=True, cache_dir=None)


def check(contract, graph, *violations):
    graph = copy.deepcopy(graph)
    for importer, imported, line in violations:
        if imported not in graph.modules:
            graph.add_module(imported, is_squashed=not imported.startswith("backoffice"))
        graph.add_import(importer=importer, imported=imported, line_number=1, line_contents=line)
    return contract.check(graph, verbose=False).kept


def test_lint_imports_passes_on_the_package():
    """What ``make test`` runs: every contract is kept by the code as it is."""
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "lint-imports"), "--config", CONFIG, "--no-cache"],
        cwd=ROOT, capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tests")),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


VIOLATIONS = {
    "layers": [("backoffice.services.withdrawals", "backoffice.admin_views.base",
                "from ..admin_views.base import is_operator")],
    "no-jobs": [("backoffice.admin_views.postbacks", "backoffice.jobs.postbacks",
                 "from ..jobs.postbacks import deliver_due")],
    "services-framework-free": [("backoffice.services.withdrawals", "flask_admin",
                                 "from flask_admin import expose")],
    "services-no-request": [("backoffice.services.withdrawals", "flask", "from flask import current_app, request")],
    "api-not-plugin": [("backoffice.api.withdrawals", "backoffice.plugin_builder.merchant_api",
                        "from ..plugin_builder import merchant_api")],
    "acyclic-siblings": [("backoffice.models", "backoffice.services.audit", "from .services import audit")],
    "no-cycles": [("backoffice.plugin_builder.views", "backoffice.plugin_builder",
                   "from . import bp")],
}


def test_every_contract_has_a_violation_here(contracts):
    assert set(contracts) == set(VIOLATIONS)


@pytest.mark.parametrize("contract_id", sorted(VIOLATIONS))
def test_each_contract_is_kept_and_fails_on_a_violation(contracts, package_graph, contract_id):
    contract = contracts[contract_id]
    assert check(contract, package_graph), f"{contract.name}: broken by the code as it is"
    assert not check(contract, package_graph, *VIOLATIONS[contract_id]), f"{contract.name}: not broken"


def test_a_service_importing_jobs_breaks_the_jobs_contract(contracts, package_graph):
    assert not check(contracts["no-jobs"], package_graph,
                     ("backoffice.services.postbacks", "backoffice.jobs.postbacks",
                      "from ..jobs.postbacks import deliver_due"))


def test_a_service_importing_the_signed_in_user_breaks_the_request_contract(contracts, package_graph):
    assert not check(contracts["services-no-request"], package_graph,
                     ("backoffice.services.audit", "flask_login", "from flask_login import current_user"))
    # current_app (configuration) is not a request object
    assert check(contracts["services-no-request"], package_graph,
                 ("backoffice.services.audit", "flask", "from flask import current_app, has_app_context"))


def test_function_local_imports_and_package_init_knots_are_cycles(tmp_path, monkeypatch):
    """The usual blueprint knot: the package's ``__init__`` imports a submodule in a
    function, the submodule imports the package back. Seen, and only with the knot."""
    package = tmp_path / "knot"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent("""
        bp = object()

        def init_app(app):
            from . import views  # a function-local import
    """))
    (package / "views.py").write_text("from . import bp\n")
    (package / "rules.py").write_text("def rule():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    contract = NoCyclesContract(name="knot", session_options={}, contract_options={"packages": ["knot"]})
    graph = grimp.build_graph("knot", cache_dir=None)
    result = contract.check(graph, verbose=False)
    assert not result.kept
    assert result.metadata["cycles"][0]["modules"] == ["knot", "knot.views"]

    (package / "views.py").write_text("from .rules import rule\n")
    graph = grimp.build_graph("knot", cache_dir=None)
    assert contract.check(graph, verbose=False).kept
