"""Settings: the secret key is generated per instance, never a constant in the code."""
import os
import stat

from backoffice import create_app


def test_secret_key_is_generated_into_the_instance_folder(app_config, conn, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    app_config.pop("SECRET_KEY")
    first = create_app(dict(app_config))
    path = os.path.join(first.instance_path, "secret_key")
    assert len(first.config["SECRET_KEY"]) >= 64
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    second = create_app(dict(app_config))
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]


def test_environment_overrides(app_config, conn, monkeypatch):
    monkeypatch.setenv("BACKOFFICE_ALLOW_PRIVATE_POSTBACKS", "1")
    app_config.pop("ALLOW_PRIVATE_POSTBACKS")
    assert create_app(dict(app_config)).config["ALLOW_PRIVATE_POSTBACKS"] is True
    monkeypatch.setenv("BACKOFFICE_ALLOW_PRIVATE_POSTBACKS", "0")
    assert create_app(dict(app_config)).config["ALLOW_PRIVATE_POSTBACKS"] is False


def test_private_postbacks_are_off_by_default(monkeypatch, tmp_path):
    from backoffice.config import from_environment

    monkeypatch.delenv("BACKOFFICE_ALLOW_PRIVATE_POSTBACKS", raising=False)
    monkeypatch.delenv("BACKOFFICE_ENV", raising=False)
    for name in ("REDIS_URL", "DATABASE_URL", "SESSION_COOKIE_SECURE"):  # CI sets some of these
        monkeypatch.delenv(name, raising=False)
    settings = from_environment(str(tmp_path))
    assert settings["ALLOW_PRIVATE_POSTBACKS"] is False
    assert settings["SESSION_COOKIE_SECURE"] is True  # production unless told otherwise
    assert settings["DATABASE_URL"].startswith("sqlite:///")
    assert settings["REDIS_URL"] is None
