"""Settings → Plugin appearance and Plugin installation (SPEC §4, §5).

Merchant owners change their own merchant's theme, own CSS and GIF prompts; operators
choose a merchant first (``?merchant=<id>``) and may change it; merchant staff get 403
(SPEC §1: their back office is the dashboard, transactions and withdrawals). Who may
open each page and post each change is ``backoffice.roles``' table. The rules themselves are plain functions in
``backoffice.plugin_builder``.
"""
import os

from flask import abort, current_app, flash, redirect, request, send_file, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_login import current_user

from .. import labels
from ..models import Merchant, MerchantPaymentSystem, PaymentSystem
from ..plugin_builder import snippet as snippets
from ..plugin_builder.config import (
    BUILT_IN_THEMES,
    THEMES,
    ThemeError,
    choose_theme,
    delete_prompt,
    prompt_url,
    theme_name,
    theme_url,
    upload_own_theme,
    upload_prompt,
)
from ..plugin_builder.css import MAX_CSS_BYTES
from ..plugin_builder.gif import MAX_BYTES, GifError
from ..plugin_builder.signing import MAX_LIFETIME, V1_ACCEPTED_UNTIL
from ..services import plugin_sessions, refused_origins
from ..services.checks import SettingsError
from .base import SecureBaseView, is_operator

THEME_LABELS = labels.THEME  # (one vocabulary: the merchants' details name the theme too)


class _MerchantPage(SecureBaseView):
    def merchant(self, required=False):
        """The merchant this page is about: the user's own, or the operator's choice."""
        if not is_operator():
            return current_user.merchant
        raw = request.values.get("merchant", "")
        merchant = Merchant.get_or_none(Merchant.id == int(raw)) if raw.isdigit() else None
        if merchant is None and required:
            abort(404)
        return merchant

    def can_edit(self):
        return self.may("theme")

    def guard_edit(self):
        """Belt and braces: the base class checked the role table before the page ran."""
        if not self.can_edit():
            abort(403)

    def merchants(self):
        return list(Merchant.select().order_by(Merchant.name)) if is_operator() else []

    def back(self, merchant):
        return redirect(url_for(".index", merchant=merchant.id) if is_operator() else url_for(".index"))


class PluginAppearanceView(_MerchantPage):
    """Theme (built-in or own CSS) and a GIF prompt per payment system."""

    def settings_rows(self, merchant):
        return list(
            MerchantPaymentSystem.select(MerchantPaymentSystem, PaymentSystem)
            .join(PaymentSystem)
            .where(MerchantPaymentSystem.merchant == merchant)
            .order_by(MerchantPaymentSystem.display_order, PaymentSystem.name)
        )

    def page(self, merchant, css_errors=None, status=200):
        return self.render(
            "admin/plugin_appearance.html",
            merchant=merchant,
            merchants=self.merchants(),
            can_edit=self.can_edit(),
            themes=THEMES,
            built_in=BUILT_IN_THEMES,
            theme_labels=THEME_LABELS,
            current_theme=theme_name(merchant) if merchant else None,
            rows=self.settings_rows(merchant) if merchant else [],
            prompt_url=lambda name: prompt_url(name, external=False),
            theme_url=theme_url(merchant, external=False) if merchant else None,
            css_errors=css_errors or [],
            max_css_kib=MAX_CSS_BYTES // 1024,
            max_gif_kib=MAX_BYTES // 1024,
        ), status

    @expose("/")
    def index(self):
        return self.page(self.merchant())

    @expose("/starter/<theme>.css")
    def starter(self, theme):
        if theme not in BUILT_IN_THEMES:
            abort(404)
        path = os.path.join(current_app.static_folder, "themes", theme + ".css")
        return send_file(path, mimetype="text/css", as_attachment=True, download_name=f"plugin-theme-{theme}.css")

    @expose("/theme", methods=("POST",))
    def theme(self):
        self.guard_edit()
        merchant = self.merchant(required=True)
        choice = request.form.get("theme", "")
        upload = request.files.get("css")
        try:
            if choice == "own" and upload and upload.filename:
                upload_own_theme(merchant, upload.stream.read(MAX_CSS_BYTES + 1), current_user.id,
                                 ip=request.remote_addr)
                flash(_("Your own theme is live."), "success")
                return self.back(merchant)
            choose_theme(merchant, choice, current_user.id, ip=request.remote_addr)
        except ThemeError as exc:
            if exc.problems:
                flash(_("The stylesheet was refused: fix the problems listed below and upload it again."), "error")
                return self.page(merchant, css_errors=exc.problems, status=422)
            flash(exc.message, "error")
            return self.back(merchant)
        flash(_("The theme is saved."), "success")
        return self.back(merchant)

    def _settings(self, merchant, settings_id):
        row = MerchantPaymentSystem.get_or_none((MerchantPaymentSystem.id == settings_id)
                                                & (MerchantPaymentSystem.merchant == merchant))
        if row is None:
            abort(404)
        return row

    @expose("/prompt/<int:settings_id>", methods=("POST",))
    def prompt(self, settings_id):
        self.guard_edit()
        merchant = self.merchant(required=True)
        row = self._settings(merchant, settings_id)
        upload = request.files.get("gif")
        if not upload or not upload.filename:
            flash(_("Choose a GIF file."), "error")
            return self.back(merchant)
        try:
            upload_prompt(row, upload.stream.read(MAX_BYTES + 1), current_user.id, ip=request.remote_addr)
        except GifError as exc:
            flash(_("The GIF was refused: %(reason)s", reason=exc.message), "error")
            return self.back(merchant)
        flash(_("The GIF prompt for %(name)s is saved.", name=row.payment_system.name), "success")
        return self.back(merchant)

    @expose("/prompt/<int:settings_id>/delete", methods=("POST",))
    def prompt_delete(self, settings_id):
        self.guard_edit()
        merchant = self.merchant(required=True)
        row = self._settings(merchant, settings_id)
        delete_prompt(row, current_user.id, ip=request.remote_addr)
        flash(_("The GIF prompt for %(name)s is removed.", name=row.payment_system.name), "success")
        return self.back(merchant)


class PluginInstallationView(_MerchantPage):
    """How to put the plugin on a site, the new way first (SPEC §13): plugin sessions
    created by the merchant's server (examples in Python, PHP, Node), then labels signed
    with the plugin secret (v2), then the deprecated forms keyed by the API key; the
    snippets with Copy buttons and the table of every parameter. No secret is shown."""

    @expose("/")
    def index(self):
        merchant = self.merchant()
        base_url = current_app.config.get("BASE_URL") or request.url_root
        return self.render(
            "admin/plugin_installation.html",
            merchant=merchant,
            merchants=self.merchants(),
            sessions_url=base_url.rstrip("/") + snippets.SESSIONS_PATH,
            session_snippet=snippets.snippet(merchant, base_url, session="TOKEN") if merchant else "",
            snippet=snippets.snippet(merchant, base_url) if merchant else "",
            parameters=snippets.PARAMETERS,
            unless_session=snippets.UNLESS_SESSION,
            session_examples=snippets.SESSION_EXAMPLES,
            v2_examples=snippets.V2_EXAMPLES,
            deprecated_examples=snippets.DEPRECATED_EXAMPLES,
            system_url=url_for("settings.system", **({"merchant": merchant.id} if is_operator() and merchant
                                                     else {})),
            max_signature_days=MAX_LIFETIME // 86400,
            session_lifetime=plugin_sessions.DEFAULT_LIFETIME, session_max_lifetime=plugin_sessions.MAX_LIFETIME,
            v1_until=current_app.config.get("PLUGIN_SIGNATURE_V1_UNTIL", V1_ACCEPTED_UNTIL) or "-",
            refused=refused_origins.for_merchant(merchant) if merchant else [],
            can_allow_origin=self.may("allow_origin"),
        )

    @expose("/allow-origin", methods=("POST",))
    def allow_origin(self):
        """One click on a refused site: it becomes one of the allowed origins (issue 22)."""
        if not self.may("allow_origin"):
            abort(403)
        merchant = self.merchant(required=True)
        try:
            origin = refused_origins.allow(merchant, request.form.get("origin", ""), current_user.id,
                                           ip=request.remote_addr)
        except refused_origins.NotRefused:
            abort(404)
        except SettingsError as exc:
            flash(_("%(origin)s was not allowed: %(reason)s", origin=request.form.get("origin", "")[:300],
                    reason="; ".join(str(m) for m in exc.errors.values())), "error")
            return self.back(merchant)
        flash(_("%(origin)s is now an allowed origin: the plugin opens there.", origin=origin), "success")
        return self.back(merchant)
