"""Two contract types for import-linter that its built-in ones do not cover
(``.importlinter`` at the top of the repository uses them; ``make test`` runs it).

* ``no_cycles``: no import cycle anywhere among a package's modules. A cycle inside
  one package (its ``__init__`` importing a submodule that imports it back, the
  usual blueprint knot) is invisible to ``acyclic_siblings``, which only compares
  siblings; this contract looks at every module, function-local imports included.
* ``forbidden_names``: modules that must not import certain *names* from a package
  (``from flask import request``), where the package itself is allowed
  (``from flask import current_app``). import-linter sees packages, not names.
"""
import re

from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def strongly_connected(graph, modules):
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root) & modules)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child) & modules))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


class NoCyclesContract(Contract):
    """No module of ``packages`` is part of an import cycle."""

    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph, verbose):
        modules = set()
        for package in self.packages:
            modules |= {package} | graph.find_descendants(package)
        cycles = []
        for component in strongly_connected(graph, modules):
            members = set(component)
            edges = []
            for importer in component:
                for imported in sorted(graph.find_modules_directly_imported_by(importer) & members):
                    details = graph.get_import_details(importer=importer, imported=imported)
                    lines = ", ".join(f"l.{d['line_number']}" for d in details)
                    edges.append(f"{importer} -> {imported} ({lines})")
            cycles.append({"modules": component, "imports": edges})
        return ContractCheck(kept=not cycles, metadata={"cycles": cycles})

    def render_broken_contract(self, check):
        for cycle in check.metadata["cycles"]:
            output.print_error(f"Import cycle among {len(cycle['modules'])} modules:")
            output.new_line()
            for edge in cycle["imports"]:
                output.indent_cursor()
                output.print(f"- {edge}")
            output.new_line()


class ForbiddenNamesContract(Contract):
    """``source_modules`` (and their descendants) import none of ``names`` from
    ``from_modules``."""

    source_modules = fields.ListField(subfield=fields.StringField())
    from_modules = fields.ListField(subfield=fields.StringField())
    names = fields.ListField(subfield=fields.StringField())

    def check(self, graph, verbose):
        sources = set()
        for source in self.source_modules:
            sources |= {source} | graph.find_descendants(source)
        name_re = re.compile(r"\b(?:%s)\b" % "|".join(re.escape(n) for n in self.names))
        offences = []
        for importer in sorted(sources):
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                if imported.split(".")[0] not in self.from_modules and imported not in self.from_modules:
                    continue
                for detail in graph.get_import_details(importer=importer, imported=imported):
                    line = detail["line_contents"]
                    if line.startswith("from ") and " import " in line:
                        imported_names = line.split(" import ", 1)[1]
                        if name_re.search(imported_names):
                            offences.append(f"{importer} (l.{detail['line_number']}): {line}")
        return ContractCheck(kept=not offences, metadata={"offences": offences})

    def render_broken_contract(self, check):
        for offence in check.metadata["offences"]:
            output.print_error(f"- {offence}", bold=False)
            output.new_line()
