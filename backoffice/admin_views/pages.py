"""Settings → Profile and System (SPEC §4 "Settings"), and the password reset page.

* Profile (everyone signed in): password change, interface language, an operator's
  own time zone, the second factor (TOTP, QR code rendered server-side as SVG, with
  recovery codes shown once).
* System (merchant owner; an operator picks a merchant with ``?merchant=<id>``;
  merchant staff get 403): API key rotation, plugin secret rotation (the key of
  ``data-signature`` v2; the previous secret keeps signing for 24 hours), behaviour
  after payment, time zone, allowed origins, signed labels, the plugin's default
  language; operators also delayed activation and its TTL
  (absent from the merchant's form and ignored if posted). Where events are sent is
  Settings → Webhooks (``admin_views.webhooks``): System links there, and its Send a
  test postback button sends to every enabled endpoint that takes test events.
* ``/login/reset/<token>``: the one-time link an operator hands out (no e-mail).

The rules are in ``services.profile``, ``services.merchant_settings`` and
``services.merchants``; this module only speaks HTTP. Every form is a FlaskForm (CSRF).
"""
import io

import qrcode
import qrcode.image.svg
from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import BooleanField, IntegerField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ..config import PLUGIN_LANGUAGES
from ..extensions import address_key
from ..i18n import format_datetime, language_choices, viewer_timezone_name
from ..models import Merchant, utcnow
from ..security import totp_uri
from ..services import accounts, merchant_settings, plugin_sessions, profile
from ..services import merchants as merchant_service
from ..services.checks import SettingsError
from .amounts import AmountField
from .base import SecureBaseView, current_role, form_errors, is_operator
from .zone_names import zone_choices, zone_label

# The session holds only an opaque reference to the secret being enrolled (issue 17):
# the secret itself waits on the user's row.
TOTP_SESSION_KEY = "settings_totp_ref"
AFTER_PAYMENT_LABELS = {"message": _l("Show a message"), "redirect": _l("Redirect to a URL"),
                        "close": _l("Close the plugin")}


class PasswordForm(FlaskForm):
    old_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=1024)])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1024)])
    new_password_again = PasswordField(_l("New password again"), validators=[DataRequired(), Length(max=1024)])


class PreferencesForm(FlaskForm):
    # The choices are checked by the service (its message names the field).
    language = SelectField(_l("Interface language"), validate_choice=False)
    timezone = SelectField(_l("Time zone"), validators=[Optional()], validate_choice=False)


class CodeForm(FlaskForm):
    code = StringField(_l("Six-digit code"), validators=[DataRequired(), Length(min=6, max=8)])


class PasswordConfirmForm(FlaskForm):
    password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=1024)])


class SystemForm(FlaskForm):
    after_payment = SelectField(_l("After payment"), validate_choice=False)
    after_payment_url = StringField(_l("Redirect URL"), validators=[Optional(), Length(max=2000)])
    timezone = SelectField(_l("Time zone"), validate_choice=False)
    allowed_origins = TextAreaField(_l("Allowed origins (one per line, e.g. https://shop.example.com)"),
                                    validators=[Optional(), Length(max=20000)])
    require_signed_labels = BooleanField(_l("Require signed labels"))
    # Checked by the service (its message names the field), like the time zone.
    plugin_language = SelectField(_l("Plugin language (default)"), validate_choice=False,
                                  description=_l("The plugin speaks it when neither data-lang nor the visitor's "
                                                 "browser names a language it knows."))
    delayed_activation = BooleanField(_l("Delayed automatic activation"))
    pending_activation_ttl = IntegerField(_l("Waiting time of a delayed activation, minutes"),
                                          validators=[Optional()])
    # Typed as people write amounts in their language ("1 250,50"); the service checks the rest.
    withdrawal_dual_approval_above = AmountField(
        _l("Withdrawals above this amount need two operators' approvals (blank: never)"), validators=[Optional()])


class RotateForm(FlaskForm):
    pass


class ResetForm(FlaskForm):
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1024)])
    new_password_again = PasswordField(_l("New password again"), validators=[DataRequired(), Length(max=1024)])


def qr_svg(data):
    """A QR code as inline SVG markup (no image request, no CDN)."""
    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    out = io.BytesIO()
    image.save(out)
    text = out.getvalue().decode("utf-8")
    return Markup(text[text.index("<svg"):])


def _timezone_choices(current=None):
    """Each zone as people read it, "Дакка, UTC+06:00" (issue 22, point 5: ``zone_names``)."""
    return zone_choices(current)


class SettingsView(SecureBaseView):

    def _user(self):
        return current_user._get_current_object()

    def _preferences_form(self, user, formdata=None):
        form = PreferencesForm(formdata=formdata, data={"language": user.language,
                                                        "timezone": user.timezone or "UTC"})
        # Each language by its own name, marked with its lang (issue 22, point 5; screen readers).
        form.language.choices = [(code, name, {"lang": code}) for code, name in language_choices()]
        if user.role == "operator":
            form.timezone.choices = _timezone_choices(user.timezone)
        else:
            del form.timezone
        return form

    def _render_profile(self, password_form=None, preferences_form=None, code_form=None, disable_form=None,
                        status=200, **extra):
        user = self._user()
        enrolling = None if user.totp_secret else profile.pending_totp_secret(user, session.get(TOTP_SESSION_KEY))
        context = dict(
            user=user,
            password_form=password_form or PasswordForm(formdata=None),
            preferences_form=preferences_form or self._preferences_form(user, formdata=None),
            code_form=code_form or CodeForm(formdata=None),
            disable_form=disable_form or PasswordConfirmForm(formdata=None),
            start_form=RotateForm(formdata=None),
            enrolling=bool(enrolling) and not user.totp_secret,
            remaining_codes=profile.remaining_recovery_codes(user) if user.totp_secret else 0,
            can_manage_system=current_role() in ("operator", "merchant_owner"),
        )
        if context["enrolling"]:
            uri = totp_uri(enrolling, user.login)
            context.update(totp_secret=enrolling, totp_qr=qr_svg(uri))
        context.update(extra)
        return self.render("admin/settings.html", **context), status

    @expose("/")
    def index(self):
        return self._render_profile()

    @expose("/password/", methods=("POST",))
    def password(self):
        form = PasswordForm()
        if not form.validate_on_submit():
            return self._render_profile(password_form=form, status=400)
        user = self._user()
        try:
            profile.change_password(user, form.old_password.data, form.new_password.data,
                                    form.new_password_again.data, ip=request.remote_addr, address=address_key())
        except SettingsError as exc:
            form_errors(form, exc)
            return self._render_profile(password_form=form, status=400)
        login_user(user)  # this session goes on with the new session token; the others end
        flash(_("Your password is changed. Your other sessions have ended."), "success")
        return redirect(url_for(".index"))

    @expose("/preferences/", methods=("POST",))
    def preferences(self):
        user = self._user()
        form = self._preferences_form(user, formdata=request.form)
        if not form.validate_on_submit():
            return self._render_profile(preferences_form=form, status=400)
        try:
            profile.update_profile(user, form.language.data,
                                   form.timezone.data if "timezone" in form else None, ip=request.remote_addr)
        except SettingsError as exc:
            form_errors(form, exc)
            return self._render_profile(preferences_form=form, status=400)
        flash(_("Your settings are saved."), "success")
        return redirect(url_for(".index"))

    @expose("/second-factor/start/", methods=("POST",))
    def totp_start(self):
        form = RotateForm()
        if not form.validate_on_submit():
            abort(400)
        if not self._user().totp_secret:
            session[TOTP_SESSION_KEY] = profile.start_totp(self._user())
        return redirect(url_for(".index") + "#second-factor")

    @expose("/second-factor/confirm/", methods=("POST",))
    def totp_confirm(self):
        user = self._user()
        form = CodeForm()
        ref = session.get(TOTP_SESSION_KEY)
        if user.totp_secret or not ref:
            return redirect(url_for(".index"))
        if not form.validate_on_submit():
            return self._render_profile(code_form=form, status=400)
        try:
            codes = profile.confirm_totp(user, ref, form.code.data, ip=request.remote_addr, address=address_key())
        except SettingsError as exc:
            form_errors(form, exc)
            return self._render_profile(code_form=form, status=400)
        session.pop(TOTP_SESSION_KEY, None)
        return self.render("admin/settings_recovery_codes.html", codes=codes)

    @expose("/second-factor/disable/", methods=("POST",))
    def totp_disable(self):
        form = PasswordConfirmForm()
        if not form.validate_on_submit():
            return self._render_profile(disable_form=form, status=400)
        try:
            profile.disable_totp(self._user(), form.password.data, ip=request.remote_addr, address=address_key())
        except SettingsError as exc:
            form_errors(form, exc)
            return self._render_profile(disable_form=form, status=400)
        flash(_("The second factor is off."), "success")
        return redirect(url_for(".index"))

    @expose("/second-factor/recovery-codes/", methods=("POST",))
    def recovery_codes(self):
        form = PasswordConfirmForm()
        if not form.validate_on_submit():
            return self._render_profile(disable_form=form, status=400)
        try:
            codes = profile.renew_recovery_codes(self._user(), form.password.data, ip=request.remote_addr,
                                                 address=address_key())
        except SettingsError as exc:
            form_errors(form, exc)
            return self._render_profile(disable_form=form, status=400)
        return self.render("admin/settings_recovery_codes.html", codes=codes)

    # -- system ----------------------------------------------------------------------------
    def _system_merchant(self):
        """The merchant the System page is about; 403 for merchant staff."""
        role = current_role()
        if role == "merchant_owner":
            return Merchant.get_by_id(current_user.merchant_id)
        if role != "operator":
            abort(403)
        raw = request.args.get("merchant", "")
        return Merchant.get_or_none(Merchant.id == int(raw)) if raw.isdigit() else None

    def _system_form(self, merchant, formdata=None):
        data = {
            "after_payment": merchant.after_payment,
            "after_payment_url": merchant.after_payment_url, "timezone": merchant.timezone,
            "allowed_origins": "\n".join(merchant.allowed_origins or []),
            "require_signed_labels": merchant.require_signed_labels,
            "plugin_language": merchant.plugin_language,
            "delayed_activation": merchant.delayed_activation,
            "pending_activation_ttl": merchant.pending_activation_ttl,
            "withdrawal_dual_approval_above": merchant.withdrawal_dual_approval_above,
        }
        form = SystemForm(formdata=formdata, data=data)
        form.after_payment.choices = [(k, v) for k, v in AFTER_PAYMENT_LABELS.items()]
        form.timezone.choices = _timezone_choices(merchant.timezone)
        # Each language by its own name (marked with its lang, for screen readers).
        form.plugin_language.choices = [(code, name, {"lang": code}) for code, name in PLUGIN_LANGUAGES.items()]
        if not is_operator():
            del form.delayed_activation
            del form.pending_activation_ttl
            del form.withdrawal_dual_approval_above
        return form

    def _render_system(self, merchant, form=None, status=200, **extra):
        if merchant is None:
            merchants = list(Merchant.select(Merchant.id, Merchant.name, Merchant.active).order_by(Merchant.name)
                             .limit(1000))
            return self.render("admin/settings_choose_merchant.html", merchants=merchants), status
        until = merchant.plugin_secret_previous_until
        return self.render("admin/settings_system.html", merchant=merchant,
                           form=form or self._system_form(merchant), rotate_form=RotateForm(formdata=None),
                           merchant_arg={"merchant": merchant.id} if is_operator() else {},
                           # The previous plugin secret still signs until then (viewer's time zone).
                           previous_secret_until=format_datetime(until) if until and until > utcnow() else None,
                           timezone_name=zone_label(viewer_timezone_name()), **extra), status

    @expose("/system/", methods=("GET", "POST"))
    def system(self):
        merchant = self._system_merchant()
        if request.method == "GET" or merchant is None:
            return self._render_system(merchant)
        form = self._system_form(merchant, formdata=request.form)
        if not form.validate_on_submit():
            return self._render_system(merchant, form, status=400)
        # Only the fields this form has: a merchant posting operator-only fields
        # changes nothing (the form has no such fields and the service ignores them).
        values = {field.name: field.data for field in form if field.name != "csrf_token"}
        try:
            changes = merchant_settings.update_system(merchant, values, current_user.id, operator=is_operator(),
                                            ip=request.remote_addr)
        except SettingsError as exc:
            form_errors(form, exc)
            return self._render_system(merchant, form, status=400)
        flash(_("The system settings are saved.") if changes else _("Nothing changed."), "success")
        return redirect(url_for(".system", **({"merchant": merchant.id} if is_operator() else {})))

    @expose("/system/rotate-api-key/", methods=("POST",))
    def rotate_api_key(self):
        merchant = self._system_merchant() or abort(404)
        if not RotateForm().validate_on_submit():
            abort(400)
        key = merchant_settings.rotate_api_key(merchant, current_user.id, ip=request.remote_addr)
        return self._render_system(merchant, new_api_key=key)[0]

    @expose("/system/rotate-plugin-secret/", methods=("POST",))
    def rotate_plugin_secret(self):
        """A new plugin secret (the key of ``data-signature`` v2), shown once; the
        previous one keeps signing for 24 hours, so the merchant's site can switch."""
        merchant = self._system_merchant() or abort(404)
        if not RotateForm().validate_on_submit():
            abort(400)
        secret = plugin_sessions.rotate_plugin_secret(merchant, current_user.id, ip=request.remote_addr)
        return self._render_system(Merchant.get_by_id(merchant.id), new_plugin_secret=secret)[0]


# --- the one-time password reset link (no sign-in) -----------------------------------------

reset_bp = Blueprint("password_reset", __name__)


@reset_bp.route("/login/reset/<token>", methods=["GET", "POST"])
def reset_password(token):
    # A reset token is a secret: guessing goes through the guard of every secret check,
    # per address (a token names no account until it is right).
    found = {}
    try:
        accounts.check_secret(None, address_key(), lambda: found.setdefault("user", merchant_service.reset_token_user(token)))
    except accounts.TooManyAttempts:
        return render_template("auth/reset_invalid.html", message=accounts.too_many_attempts_message()), 429
    user = found["user"]
    if user is None:
        return render_template("auth/reset_invalid.html"), 404
    form = ResetForm()
    if not form.validate_on_submit():
        return render_template("auth/reset.html", form=form, login=user.login), (
            400 if request.method == "POST" else 200)
    try:
        merchant_service.use_reset_token(token, form.new_password.data, form.new_password_again.data,
                                         ip=request.remote_addr)
    except SettingsError as exc:
        form_errors(form, exc)
        return render_template("auth/reset.html", form=form, login=user.login), 400
    flash(_("Your new password is set. Sign in with it."), "success")
    return redirect(url_for("auth.login"))


__all__ = ["SettingsView", "reset_bp"]
