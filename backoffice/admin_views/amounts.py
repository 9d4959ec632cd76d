"""Amounts on every back-office screen (issue 22, point 3): what people read and type.

* **Columns.** :func:`money_columns` is applied by ``base.ScopedModelView`` to every
  model view before Flask-Admin builds it: each ``MoneyField`` of the view's model is
  shown in the list and on the details page as money in the viewer's language, joined
  to its currency (``i18n.format_money``), and exported to CSV in the machine format
  ("1250.50", ``money.to_str``). A view's own formatter for such a column wins on the
  page; in the CSV only a formatter the view gives in ``column_formatters_export``
  does (a page formatter never reaches the file).
* **Inputs.** :class:`AmountField` is the one form field for an amount: it reads what
  people type in their language (``money.parse_typed_amount``: ``1,250.50`` in
  English, ``1 250,50`` in Russian), shows a stored amount the same way, and its error
  names the field. ``money_columns`` makes it (``ModelAmountField``: the sign left to
  the service's checks) the form field of every ``MoneyField`` in Flask-Admin's
  generated forms; the hand-made forms use it directly (the withdrawal form, written
  by hand in its template, reads its amount with ``money.parse_typed_amount``).
"""
from decimal import Decimal

from wtforms import StringField

from ..i18n import format_money, format_number
from ..models import MoneyField
from ..money import AmountError, parse_typed_amount, to_str


def money_fields(model):
    """The names of ``model``'s money columns."""
    return [name for name, field in model._meta.fields.items() if isinstance(field, MoneyField)]


def currency_of(row):
    """The currency of a row's amounts: its own ``currency`` column, else its payment
    system's (wallets, merchant payment settings, pending activations); None for rows
    whose amounts hold in any currency (a merchant's two-approval threshold)."""
    currency = getattr(row, "currency", None)
    if isinstance(currency, str) and currency:
        return currency
    if "payment_system" in type(row)._meta.fields and getattr(row, "payment_system_id", None) is not None:
        return row.payment_system.currency
    return None


def money_column(view, context, model, name):
    """A list or details cell: the amount in the viewer's language with its currency."""
    return format_money(getattr(model, name), currency_of(model))


def machine_column(view, context, model, name):
    """A CSV cell: the machine format ("1250.50"; empty for no amount)."""
    value = getattr(model, name)
    return "" if value is None else to_str(value)


def money_columns(view, model):
    """Set ``view``'s formatters and form fields for ``model``'s money columns (see the
    module's doc). Called before Flask-Admin builds the view (it caches them)."""
    names = money_fields(model)
    if not names:
        return
    own = dict(view.column_formatters or {})
    view.column_formatters = {**{name: money_column for name in names}, **own}
    if view.column_formatters_detail is not None:
        view.column_formatters_detail = {**{name: money_column for name in names},
                                         **dict(view.column_formatters_detail)}
    own_export = view.column_formatters_export
    if own_export is None:
        # Flask-Admin would export the page's formatters: money columns in machine format.
        view.column_formatters_export = {**own, **{name: machine_column for name in names}}
    else:
        view.column_formatters_export = {**{name: machine_column for name in names}, **dict(own_export)}
    view.form_overrides = {**{name: ModelAmountField for name in names}, **dict(view.form_overrides or {})}


class AmountField(StringField):
    """An amount typed by a person (see the module's doc): ``data`` is a 2-place
    ``Decimal``, or None when left empty. Zero is taken and negatives are not, unless
    told (``allow_zero``, ``allow_negative``); the rest of the rules are the services'."""

    def __init__(self, label=None, validators=None, allow_zero=True, allow_negative=False, **kwargs):
        kwargs.pop("places", None)  # what a DecimalField conversion would pass
        kwargs.pop("rounding", None)
        render_kw = dict(kwargs.pop("render_kw", None) or {})
        render_kw.setdefault("inputmode", "decimal")
        render_kw.setdefault("autocomplete", "off")
        super().__init__(label, validators, render_kw=render_kw, **kwargs)
        self.allow_zero, self.allow_negative = allow_zero, allow_negative

    def process_data(self, value):
        if isinstance(value, (Decimal, int)) and not isinstance(value, bool):
            self.data = Decimal(value)
        else:
            self.data = None if value in (None, "") else value

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        try:
            self.data = parse_typed_amount(valuelist[0], field=str(self.label.text), allow_zero=self.allow_zero,
                                           allow_negative=self.allow_negative)
        except AmountError as exc:
            self.data = None
            raise ValueError(str(exc.message)) from None

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else format_number(self.data, 2)


class ModelAmountField(AmountField):
    """The amount field of Flask-Admin's generated forms: zero and negatives are read too,
    and left to the checks of the service that saves the model (in its words)."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("allow_negative", True)
        super().__init__(label, validators, **kwargs)


def amount_input_value(amount):
    """A stored amount as an amount input shows it (the viewer's language; "" for none)."""
    return "" if amount is None else format_number(amount, 2)


__all__ = ["AmountField", "ModelAmountField", "amount_input_value", "currency_of", "machine_column", "money_column",
           "money_columns", "money_fields"]
