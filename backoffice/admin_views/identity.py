"""Who did something, as the viewer may see it (issue 17, class 5).

Operators see which login acted and from which address; merchant users see "Operator"
and the time, never the login or the address of platform staff. Every screen, details
page and CSV export that names a user who acted goes through these formatters (they
call ``labels.actor_label`` / ``labels.actor_address``, which the Balance statement uses
too): put them in both ``column_formatters`` and ``column_formatters_export``.
"""
from .. import labels
from .base import is_operator


def actor_formatter(attribute):
    """A column formatter naming the user in ``attribute`` (a User foreign key)."""

    def _format(view, context, model, name):
        return actor_label(getattr(model, attribute + "_id") and getattr(model, attribute))

    return _format


def actor_label(user):
    """The acting ``user`` as the current viewer may see it."""
    return labels.actor_label(user, is_operator())


def address_formatter(user_attribute, address_attribute):
    """A column formatter for the address an action came from (hidden from merchant users
    when an operator acted)."""

    def _format(view, context, model, name):
        user = getattr(model, user_attribute + "_id") and getattr(model, user_attribute)
        return labels.actor_address(user, getattr(model, address_attribute), is_operator())

    return _format
