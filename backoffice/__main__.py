"""The ``backoffice`` console command (``python -m backoffice`` too): a Flask CLI
group over the app that ``create_app`` builds, with the commands of ``cli``."""
import click
from flask.cli import FlaskGroup

from . import create_app


@click.group(cls=FlaskGroup, create_app=create_app, add_default_commands=False)
def main():
    """Backoffice: the merchant back office of a P2P-wallet payment gateway."""


if __name__ == "__main__":
    main()
