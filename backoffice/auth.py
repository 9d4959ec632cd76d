"""Sign-in pages: password step, second factor (TOTP), enrolment, sign-out.

The rules (lock-out, code replay, ending sessions) live in ``services.accounts``;
this module only speaks HTTP. The session holds ``"<user id>:<session token>"``
(Flask-Login's alternative id), so replacing a user's token ends every session.
"""
import time
from urllib.parse import urlparse

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from .extensions import limiter, login_manager
from .models import User
from .security import constant_time_equals, new_totp_secret, totp_uri
from .services import accounts, profile

bp = Blueprint("auth", __name__)

PENDING_KEY = "pending_sign_in"
PENDING_SECONDS = 300  # the second step must follow the first within five minutes


class LoginForm(FlaskForm):
    login = StringField(_l("Login (e-mail)"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])


class CodeForm(FlaskForm):
    # A recovery code (xxxx-xxxx-xxxx-xxxx) is accepted in place of the six digits.
    code = StringField(_l("Six-digit code"), validators=[DataRequired(), Length(min=6, max=24)])


@login_manager.user_loader
def load_user(alternative_id):
    try:
        user_id, token = alternative_id.split(":", 1)
        user = User.get_or_none(User.id == int(user_id))
    except (ValueError, AttributeError):
        return None
    if user is None or not user.active or not constant_time_equals(user.session_token, token):
        return None
    if user.merchant_id is not None and not user.merchant.active:
        return None
    return user


def _safe_next(target):
    """Only same-site paths are followed after sign-in (no open redirect)."""
    if not target:
        return None
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _failed_login_only(response):
    """Flask-Limiter counts only failed attempts against the address limit."""
    return response.status_code in (401, 403, 429) or getattr(request, "_login_failed", False)


def _login_rate_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


def _finish(user):
    session.pop(PENDING_KEY, None)
    session.clear()  # no state of the anonymous session survives sign-in
    accounts.record_login(user)
    login_user(user)
    session.permanent = True
    return redirect(_safe_next(request.args.get("next")) or url_for("admin.index"))


def _refuse(form, message, template="auth/login.html", status=401, **extra):
    request._login_failed = True
    flash(message, "error")
    return render_template(template, form=form, **extra), status


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"], deduct_when=_failed_login_only)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("admin.index"))
    form = LoginForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("auth/login.html", form=form), status
    result = accounts.check_password_step(form.login.data, form.password.data)
    if not result.ok:
        if result.reason == "locked":
            return _refuse(form, _("Too many failed sign-ins: this account is locked for a while. Try again later."), status=403)
        if result.reason == "disabled":
            return _refuse(form, _("This account is disabled."), status=403)
        return _refuse(form, _("Invalid login or password."))
    if not result.needs_second_factor:
        return _finish(result.user)
    session[PENDING_KEY] = {
        "user": result.user.id,
        "token": result.user.session_token,
        "at": int(time.time()),
    }
    if result.needs_enrolment:
        session[PENDING_KEY]["enrol_secret"] = new_totp_secret()
        session.modified = True
        return redirect(url_for("auth.enrol", next=request.args.get("next")))
    return redirect(url_for("auth.second_factor", next=request.args.get("next")))


def _pending_user():
    pending = session.get(PENDING_KEY)
    if not pending or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        session.pop(PENDING_KEY, None)
        return None, None
    user = User.get_or_none(User.id == pending["user"])
    if user is None or user.session_token != pending["token"] or not user.active:
        return None, None
    return user, pending


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"], deduct_when=_failed_login_only)
def second_factor():
    user, _pending = _pending_user()
    if user is None:
        flash(_("Please sign in again."), "error")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if not form.validate_on_submit():
        return render_template("auth/code.html", form=form), (400 if request.method == "POST" else 200)
    if not _second_factor_ok(user, form.code.data):
        return _refuse(form, _("The code is wrong or was used already."), template="auth/code.html")
    return _finish(user)


def _second_factor_ok(user, code):
    """Six digits: the TOTP code; anything longer: a one-time recovery code (issue 7)."""
    compact = (code or "").strip().replace(" ", "")
    if len(compact) <= 8:
        return accounts.check_second_factor(user, code)
    if accounts.is_locked(User.get_by_id(user.id)):
        return False
    if profile.use_recovery_code(user, compact):
        return True
    accounts._register_failure(user)
    return False


@bp.route("/login/enrol", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"], deduct_when=_failed_login_only)
def enrol():
    user, pending = _pending_user()
    if user is None or "enrol_secret" not in pending:
        flash(_("Please sign in again."), "error")
        return redirect(url_for("auth.login"))
    secret = pending["enrol_secret"]
    form = CodeForm()
    extra = {"secret": secret, "uri": totp_uri(secret, user.login)}
    if not form.validate_on_submit():
        return render_template("auth/enrol.html", form=form, **extra), (400 if request.method == "POST" else 200)
    if not accounts.check_second_factor(user, form.code.data, secret=secret):
        return _refuse(form, _("The code is wrong. Check your authenticator app's clock."), template="auth/enrol.html", **extra)
    return _finish(user)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    # Signing out ends this user's every session, not only this browser's.
    accounts.end_all_sessions(current_user._get_current_object())
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))

