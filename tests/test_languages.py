"""The language list has one home: ``LANGUAGES`` in ``backoffice.config``."""
import os

from backoffice import config
from backoffice.cli import create_user_command
from backoffice.i18n import language_choices, languages
from backoffice.plugin_builder import messages


def test_one_list_outside_an_app():
    assert config.LANGUAGES == {"en": "English", "ru": "Русский"}
    assert languages() is config.LANGUAGES
    assert language_choices() == [("en", "English"), ("ru", "Русский")]
    [option] = [p for p in create_user_command.params if p.name == "language"]
    assert list(option.type.choices) == ["en", "ru"]
    # The plugin speaks more languages than the back office (SPEC §13), each from the same catalogs.
    assert messages.LANGUAGES == tuple(config.PLUGIN_LANGUAGES) == ("en", "ru", "bn", "hi", "ur")
    assert set(config.LANGUAGES) <= set(messages.LANGUAGES)
    for code in messages.LANGUAGES:  # each one has its compiled catalog
        assert os.path.isfile(os.path.join(messages.TRANSLATIONS, code, "LC_MESSAGES", "messages.mo")), code


def test_the_app_setting_is_read(app):
    assert app.config["LANGUAGES"] == config.LANGUAGES
    with app.app_context():
        app.config["LANGUAGES"] = {"en": "English"}
        assert language_choices() == [("en", "English")]
        app.config["LANGUAGES"] = ["ru"]  # a plain list (an older instance/config.py) still works
        assert languages() == {"ru": "Русский"}
