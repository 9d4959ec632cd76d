"""The WSGI entry point: ``gunicorn wsgi:app``."""
from backoffice import create_app

app = create_app()
