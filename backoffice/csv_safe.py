"""Every CSV the back office writes goes through here (spreadsheet formula injection).

A spreadsheet reads a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return as a formula (``=HYPERLINK(...)``, ``-2+3+cmd|...``). Labels, order
ids, counterparties, withdrawal fields, comments and memos come from visitors,
merchants and connectors, so SPEC §14 has every such cell prefixed with ``'`` — every
one, plain negative numbers included (``-25.00`` becomes ``'-25.00``): a rule with
exceptions is a rule someone can slip past.

* :func:`neutralise` — one cell;
* :func:`row` — a list of cells;
* :func:`writer` — a ``csv.writer`` whose ``writerow`` / ``writerows`` neutralise
  every cell, for files written at once or streamed row by row.
"""
import csv
import io

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """``value`` as the text of a CSV cell that no spreadsheet runs as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def row(cells):
    return [neutralise(cell) for cell in cells]


class _SafeWriter:
    """A ``csv.writer`` that neutralises every cell it writes."""

    def __init__(self, target, **kwargs):
        self._writer = csv.writer(target, **kwargs)

    def writerow(self, cells):
        return self._writer.writerow(row(cells))

    def writerows(self, rows):
        for cells in rows:
            self.writerow(cells)


def writer(target, **kwargs):
    """A CSV writer on ``target`` (any object with ``write``) that neutralises every cell."""
    return _SafeWriter(target, **kwargs)


class _Echo:
    """A file-like object whose ``write`` returns what it was given (for streaming)."""

    def write(self, value):
        return value


def stream(header, rows):
    """The lines of a CSV file, one string per row, header first: for a streamed response
    (the process's memory stays flat at any size)."""
    out = writer(_Echo())
    yield out.writerow(header)
    for cells in rows:
        yield out.writerow(cells)


def text(header, rows):
    """A whole CSV file as one string."""
    out = io.StringIO()
    safe = writer(out)
    safe.writerow(header)
    safe.writerows(rows)
    return out.getvalue()


__all__ = ["FORMULA_STARTS", "neutralise", "row", "stream", "text", "writer"]
