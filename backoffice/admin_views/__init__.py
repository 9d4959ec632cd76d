"""Flask-Admin at ``/admin``: the menu of SPEC §4, every view built on ``base``."""
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from flask_babel import lazy_gettext as _l

from ..models import (
    ActivationAttempt,
    AuditLog,
    ConnectorToken,
    ExchangeRate,
    Merchant,
    MerchantPaymentSystem,
    PaymentSystem,
    PendingActivation,
    Postback,
    Transaction,
    User,
    Wallet,
    WebhookEndpoint,
    Withdrawal,
)
from ..security import csp_nonce
from .base import SecureIndexView
from .operators import (
    AuditLogView,
    ConnectorTokenView,
    ExchangeRateView,
    JobsView,
    MerchantPaymentSystemView,
    MerchantView,
    PaymentSystemView,
    PendingActivationView,
    UserView,
)
from .admin_wording import install as install_admin_wording
from .datepicker import init_app as init_datepicker
from .appeals import AppealsView
from .attempts import ActivationAttemptView
from .dashboard import DashboardView
from .ledger import BalanceView
from .ledger_banner import init_app as init_ledger_banner
from .pages import SettingsView, reset_bp
from .plugin import PluginAppearanceView, PluginInstallationView
from .postbacks import PostbackView
from .review import ReviewView
from .risk import RiskView
from .transactions import TransactionView
from .webhook_banner import init_app as init_webhook_banner
from .webhooks import WebhookEndpointView, WebhooksView
from .wallets import WalletView
from .withdrawals import WithdrawalView


SETTINGS = _l("Settings")
RISK = _l("Risk")
# The operators' screens in two menus, so the bar stays on one line at 1366 px in every
# language (issue 22, point 9): merchants and their people and wallets; the system's
# reference data and machinery.
MERCHANTS = _l("Merchants")
SYSTEM = _l("System")


def init_admin(app):
    install_admin_wording()  # Flask-Admin's own words, our catalog's wording first (issue 22, point 5)
    init_datepicker(app)  # the date pickers in the viewer's language; zone_label for templates (point 5)
    admin = Admin(
        app,
        name="Backoffice",
        url="/admin",
        theme=Bootstrap4Theme(base_template="admin/backoffice_base.html", fluid=True),
        index_view=DashboardView(name=_l("Dashboard"), url="/admin", endpoint="admin"),
        # Flask-Admin's own inline scripts carry this request's CSP nonce (security.py).
        csp_nonce_generator=csp_nonce,
    )
    # Ours too, and the sign-in pages': {{ csp_nonce() }} in any template.
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    payments = _l("Payments")
    admin.add_view(TransactionView(Transaction, name=_l("Transactions"), category=payments, endpoint="transactions"))
    admin.add_view(ActivationAttemptView(ActivationAttempt, name=_l("Activation attempts"), category=payments,
                                         endpoint="attempts", url="/admin/attempts"))
    admin.add_view(WithdrawalView(Withdrawal, name=_l("Withdrawals"), category=payments, endpoint="withdrawals"))
    admin.add_view(BalanceView(name=_l("Balance"), category=payments, endpoint="balance", url="/admin/balance"))
    # The Settings menu: profile and system here; the plugin pages join the category.
    admin.add_view(SettingsView(name=_l("Profile and system"), category=SETTINGS, endpoint="settings"))
    admin.add_view(PluginAppearanceView(name=_l("Plugin appearance"), category=SETTINGS,
                                        endpoint="plugin_appearance", url="/admin/plugin-appearance"))
    admin.add_view(PluginInstallationView(name=_l("Plugin installation"), category=SETTINGS,
                                          endpoint="plugin_installation", url="/admin/plugin-installation"))
    admin.add_view(WebhooksView(name=_l("Webhooks"), category=SETTINGS, endpoint="webhooks", url="/admin/webhooks"))
    # Risk (SPEC §11, operators): the matching policy, blocklists and the review queue.
    admin.add_view(RiskView(name=_l("Matching and risk"), category=RISK, endpoint="risk", url="/admin/risk"))
    admin.add_view(ReviewView(name=_l("Review queue"), category=RISK, endpoint="review", url="/admin/review"))
    admin.add_view(AppealsView(name=_l("Appeals"), category=RISK, endpoint="appeals", url="/admin/appeals"))
    admin.add_view(MerchantView(Merchant, name=_l("Merchants"), category=MERCHANTS, endpoint="merchants"))
    admin.add_view(UserView(User, name=_l("Users"), category=MERCHANTS, endpoint="users"))
    admin.add_view(WalletView(Wallet, name=_l("Wallets"), category=MERCHANTS, endpoint="wallets"))
    admin.add_view(PaymentSystemView(PaymentSystem, name=_l("Payment systems"), category=SYSTEM,
                                     endpoint="payment_systems"))
    admin.add_view(MerchantPaymentSystemView(MerchantPaymentSystem, name=_l("Merchant payment settings"),
                                             category=MERCHANTS, endpoint="merchant_payment_systems"))
    admin.add_view(ConnectorTokenView(ConnectorToken, name=_l("Connector tokens"), category=SYSTEM,
                                      endpoint="connector_tokens"))
    admin.add_view(ExchangeRateView(ExchangeRate, name=_l("Exchange rates"), category=SYSTEM,
                                    endpoint="exchange_rates"))
    admin.add_view(
        PendingActivationView(PendingActivation, name=_l("Pending activations"), category=payments,
                              endpoint="pending_activations")
    )
    admin.add_view(PostbackView(Postback, name=_l("Postbacks"), endpoint="postbacks"))
    admin.add_view(WebhookEndpointView(WebhookEndpoint, name=_l("Webhook endpoints"), category=SYSTEM,
                                       endpoint="webhook_endpoints"))
    admin.add_view(AuditLogView(AuditLog, name=_l("Audit log"), endpoint="audit_log"))
    admin.add_view(JobsView(name=_l("Jobs"), category=SYSTEM, endpoint="jobs"))
    app.register_blueprint(reset_bp)  # the one-time password reset links (issue 7)
    init_ledger_banner(app)  # the operators' banner while the ledger has differences
    init_webhook_banner(app)  # the merchant's banner while an endpoint is disabled for failing
    app.extensions["backoffice_admin"] = admin
    return admin


__all__ = ["SecureIndexView", "init_admin"]
