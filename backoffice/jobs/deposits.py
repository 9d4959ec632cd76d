"""Periodic jobs of the deposits core."""
from ..services import activation
from .worker import with_db


@with_db
def expire_pending_activations():
    """Delayed activation: entries nobody reported in time become 'expired'."""
    return activation.expire_pending()
