"""The language list has one home: ``LANGUAGES`` in ``backoffice.config``."""
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
    assert messages.LANGUAGES == ("en", "ru") and all(code in messages.MESSAGES for code in messages.LANGUAGES)


def test_the_app_setting_is_read(app):
    assert app.config["LANGUAGES"] == config.LANGUAGES
    with app.app_context():
        app.config["LANGUAGES"] = {"en": "English"}
        assert language_choices() == [("en", "English")]
        app.config["LANGUAGES"] = ["ru"]  # a plain list (an older instance/config.py) still works
        assert languages() == {"ru": "Русский"}
