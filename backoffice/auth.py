"""Sign-in pages: password step, second factor (TOTP), enrolment, sign-out.

The rules (lock-out, code replay, ending sessions) live in ``services.accounts``;
this module only speaks HTTP. The session holds ``"<user id>:<session token>"``
(Flask-Login's alternative id), so replacing a user's token ends every session.
"""
import time

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from .extensions import address_key, failure_limits, login_manager
from .models import User
from .redirects import safe_next
from .security import constant_time_equals, totp_uri
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


def _failed_login_only(response):
    """Flask-Limiter counts only failed attempts against the address limit."""
    return response.status_code in (401, 403, 429) or getattr(request, "_login_failed", False)


def _login_rate_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


def _finish(user):
    session.pop(PENDING_KEY, None)
    session.clear()  # no state of the anonymous session survives sign-in
    accounts.record_login(user, address_key())
    login_user(user)
    session.permanent = True
    return redirect(safe_next(request.args.get("next")) or url_for("admin.index"))


def _refuse(form, message, template="auth/login.html", status=401, **extra):
    request._login_failed = True
    flash(message, "error")
    return render_template(template, form=form, **extra), status


@bp.route("/login", methods=["GET", "POST"])
@failure_limits((_login_rate_limit, address_key), methods=["POST"], counts=_failed_login_only)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("admin.index"))
    form = LoginForm()
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("auth/login.html", form=form), status
    result = accounts.check_password_step(form.login.data, form.password.data, address_key())
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
        # Only an opaque reference: the secret waits on the server (issue 17).
        session[PENDING_KEY]["enrol_ref"] = accounts.start_enrolment(result.user)
        session.modified = True
        return redirect(url_for("auth.enrol", next=safe_next(request.args.get("next"))))
    return redirect(url_for("auth.second_factor", next=safe_next(request.args.get("next"))))


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
@failure_limits((_login_rate_limit, address_key), methods=["POST"], counts=_failed_login_only)
def second_factor():
    user, _pending = _pending_user()
    if user is None:
        flash(_("Please sign in again."), "error")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if not form.validate_on_submit():
        return render_template("auth/code.html", form=form), (400 if request.method == "POST" else 200)
    try:
        ok = _second_factor_ok(user, form.code.data)
    except accounts.TooManyAttempts:
        return _refuse(form, accounts.too_many_attempts_message(), template="auth/code.html")
    if not ok:
        return _refuse(form, _("The code is wrong or was used already."), template="auth/code.html")
    return _finish(user)


def _second_factor_ok(user, code):
    """Six digits: the TOTP code; anything longer: a one-time recovery code (issue 7)."""
    compact = (code or "").strip().replace(" ", "")
    if len(compact) <= 8:
        return accounts.check_second_factor(user, code, address=address_key())
    return accounts.check_secret(user.login, address_key(), lambda: profile.use_recovery_code(user, compact))


@bp.route("/login/enrol", methods=["GET", "POST"])
@failure_limits((_login_rate_limit, address_key), methods=["POST"], counts=_failed_login_only)
def enrol():
    user, pending = _pending_user()
    secret = accounts.enrolment_secret(user, pending.get("enrol_ref")) if user is not None else None
    if secret is None:
        flash(_("Please sign in again."), "error")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    extra = {"secret": secret, "uri": totp_uri(secret, user.login)}
    if not form.validate_on_submit():
        return render_template("auth/enrol.html", form=form, **extra), (400 if request.method == "POST" else 200)
    try:
        ok = accounts.check_second_factor(user, form.code.data, secret=secret, address=address_key())
    except accounts.TooManyAttempts:
        return _refuse(form, accounts.too_many_attempts_message(), template="auth/enrol.html", **extra)
    if not ok:
        return _refuse(form, _("The code is wrong. Check your authenticator app's clock."), template="auth/enrol.html", **extra)
    accounts.finish_enrolment(user)
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

