"""Small jobs that prove the job machinery works end to end."""
from ..db import with_db
from ..models import Merchant


@with_db
def ping():
    """Answers with the number of merchants: proves a job reaches Redis and the database."""
    return {"pong": True, "merchants": Merchant.select().count()}
