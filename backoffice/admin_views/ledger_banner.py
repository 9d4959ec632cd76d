"""The operators' ledger banner (SPEC §9): while the latest ``ledger verify`` run left
a difference outstanding, every back-office page shows operators a red banner naming
the merchants and currencies (``templates/admin/backoffice_base.html``).

The base template calls ``ledger_banner()``: nothing for merchant users or signed-out
pages; for an operator one indexed query (``ledger_verify.latest_state``).
"""
from ..services.ledger_verify import latest_state
from .base import is_operator

SHOWN = 10  # merchants/currencies named in the banner; the rest are counted


def ledger_banner():
    """The outstanding :class:`~backoffice.services.ledger_verify.CheckState` for an
    operator, else None."""
    if not is_operator():
        return None
    state = latest_state()
    return state if state is not None and state.has_differences else None


def init_app(app):
    @app.context_processor
    def _ledger_banner():
        return {"ledger_banner": ledger_banner, "ledger_banner_shown": SHOWN}
