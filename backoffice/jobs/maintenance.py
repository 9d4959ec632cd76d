"""Small jobs that prove the job machinery works end to end."""
from .worker import with_db


@with_db
def ping():
    """Answers with the number of merchants: proves a job reaches Redis and the database."""
    from ..models import Merchant

    return {"pong": True, "merchants": Merchant.select().count()}
