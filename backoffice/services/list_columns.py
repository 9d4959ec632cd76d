"""The columns each user chose to see on each list (issue 22, point 1).

Stored per user and screen in ``User.list_columns`` ({"transactions": ["id", ...]}):
the list shows the chosen columns, in the list's own order; a screen the user never
chose for shows its default columns. Plain functions: the back office's column chooser
calls them with the columns the list offers (the view knows which those are).
"""
from ..db import write_transaction
from ..models import User

MAX_SCREENS = 100  # screens remembered per user (a bound on the stored JSON)


def chosen(user, screen):
    """The column names ``user`` chose for ``screen``, or None (the list's defaults)."""
    names = (user.list_columns or {}).get(screen) if isinstance(user.list_columns, dict) else None
    return list(names) if isinstance(names, list) else None


def choose(user_id, screen, names, offered):
    """Remember the columns of ``screen`` the user wants to see: ``names`` narrowed to
    the ``offered`` ones, in the offered order. Choosing none is refused (an empty list
    could not be read back): the stored choice is then left as it was. Returns the
    columns remembered, or None when nothing was stored."""
    wanted = set(names)
    keep = [name for name in offered if name in wanted]
    if not keep:
        return None
    with write_transaction():
        user = User.get_by_id(user_id)
        stored = dict(user.list_columns) if isinstance(user.list_columns, dict) else {}
        stored[screen] = keep
        if len(stored) > MAX_SCREENS:
            stored = {screen: keep}
        User.update(list_columns=stored).where(User.id == user_id).execute()
    return keep


def forget(user_id, screen):
    """Back to the list's default columns for ``screen``."""
    with write_transaction():
        user = User.get_by_id(user_id)
        stored = dict(user.list_columns) if isinstance(user.list_columns, dict) else {}
        if stored.pop(screen, None) is not None:
            User.update(list_columns=stored).where(User.id == user_id).execute()


__all__ = ["chosen", "choose", "forget"]
