"""Who may do what: the one table of roles × screens × actions (SPEC §1, §4).

Every back-office screen is a Flask-Admin view with an endpoint (``transactions``,
``postbacks``, …). ``SCREENS`` maps each endpoint to its permissions, and each
permission to the roles that hold it:

* ``view`` — open the screen at all (the menu shows it; its list, its pages);
* Flask-Admin's own pages: ``details``, ``create``, ``edit``, ``delete``, ``export``;
* the screen's own pages and POSTs, by the view method's name without ``_view``
  (``manual``, ``decide``, ``send_test``, …), and its list actions by action name
  (``mark_fraud``, ``resend``, …).

Anything not in the table is refused (deny by default): a view or a page added
later is closed until a line here opens it, and ``tests/admin_views/test_role_table.py``
walks every registered URL × role against this table. The admin views consult it
through ``admin_views/base.py`` (``RoleMixin``: ``is_accessible``, every exposed
page; ``ScopedModelView``: ``can_*`` and ``is_action_allowed``).

The merchant APIs (``/api/v1``) authenticate a merchant by its API key, not a user:
no role applies there (the key is the merchant's, managed by its owner on Settings →
System, which this table reserves to owners and operators).
"""

OPERATOR = "operator"
OWNER = "merchant_owner"
STAFF = "merchant_staff"
ROLES = (OPERATOR, OWNER, STAFF)

EVERYONE = frozenset(ROLES)
MERCHANT_USERS = frozenset((OWNER, STAFF))
OPERATORS = frozenset((OPERATOR,))
OWNERS = frozenset((OPERATOR, OWNER))  # operators and merchant owners
NOBODY = frozenset()

# Flask-Admin's model-view permissions.
MODEL_PAGES = ("view", "details", "create", "edit", "delete", "export")


def _operator_screen(*granted):
    """An operator-only model screen with the given permissions (``view`` implied)."""
    return {name: OPERATORS for name in ("view",) + granted}


SCREENS = {
    # Dashboard (the admin index) and its chart data: every signed-in user.
    "admin": {"view": EVERYONE, "stats": EVERYONE},
    # Payments → Transactions: read-only for merchant users; operators also act.
    "transactions": {
        "view": EVERYONE, "details": EVERYONE, "export": EVERYONE,
        "manual": OPERATORS, "activate": OPERATORS,
        "mark_fraud": OPERATORS, "mark_normal": OPERATORS, "resend_postback": OPERATORS,
    },
    # Payments → Activation attempts (SPEC §11): read-only; merchant users their own.
    "attempts": {"view": EVERYONE, "details": EVERYONE, "export": EVERYONE},
    # Payments → Withdrawals: owners request and cancel; operators decide.
    "withdrawals": {
        "view": EVERYONE, "details": EVERYONE, "export": EVERYONE, "receipt": EVERYONE,
        "create": OWNERS, "cancel": frozenset((OWNER,)),
        "decide": OPERATORS, "approve": OPERATORS, "reject": OPERATORS, "resend_postback": OPERATORS,
        "approve_csv": OPERATORS,
    },
    # Payments → Balance: the statement is read-only money data (the dashboard shows
    # the balance to every merchant user); adjustments are operators'.
    "balance": {"view": EVERYONE, "export": EVERYONE, "adjust": OPERATORS},
    # Settings → Profile (own profile: everyone) and System (owners and operators).
    "settings": {
        "view": EVERYONE, "password": EVERYONE, "preferences": EVERYONE, "totp_start": EVERYONE,
        "totp_confirm": EVERYONE, "totp_disable": EVERYONE, "recovery_codes": EVERYONE,
        "system": OWNERS, "rotate_api_key": OWNERS, "rotate_plugin_secret": OWNERS,
    },
    # Settings → Plugin appearance and installation: owners and operators (SPEC §1).
    "plugin_appearance": {"view": OWNERS, "starter": OWNERS, "theme": OWNERS, "prompt": OWNERS,
                          "prompt_delete": OWNERS},
    "plugin_installation": {"view": OWNERS, "allow_origin": OWNERS},
    # Postbacks: owners (their own) and operators (all).
    "postbacks": {"view": OWNERS, "details": OWNERS, "resend": OWNERS, "send_test": OWNERS, "docs": OWNERS,
                  "live": OWNERS},
    # Settings → Webhooks: the merchant's endpoints (SPEC §10). Owners (their own) and
    # operators (any merchant, ``?merchant=<id>``); staff are refused, as on System.
    "webhooks": {"view": OWNERS, "add": OWNERS, "details": OWNERS, "edit": OWNERS, "disable": OWNERS,
                 "enable": OWNERS, "delete": OWNERS, "rotate_secret": OWNERS, "recover": OWNERS,
                 "send_test": OWNERS},
    # The audit log: operators (all) and owners (their merchant's).
    "audit_log": {"view": OWNERS, "details": OWNERS, "export": OWNERS},
    # Operators only.
    "merchants": _operator_screen("create", "edit", "details", "export", "disable", "enable"),
    "users": _operator_screen("edit", "details", "add", "disable", "enable", "reset_password"),
    # Wallets (SPEC §12): operators set limits and pauses, one by one or in bulk.
    "wallets": _operator_screen("create", "edit", "details", "export", "pause", "unpause", "auto_pause_on",
                                "auto_pause_off", "limits"),
    # Appeals (SPEC §12): operators resolve them; merchant users read their visitors'.
    "appeals": {"view": EVERYONE, "details": EVERYONE, "receipt": EVERYONE, "match": OPERATORS,
                "reject": OPERATORS},
    "payment_systems": _operator_screen("create", "edit", "details"),
    "merchant_payment_systems": _operator_screen("create", "edit", "details"),
    "connector_tokens": _operator_screen("details", "issue", "deactivate"),
    "exchange_rates": _operator_screen("create", "edit", "delete", "details", "export"),
    "pending_activations": _operator_screen("details", "export"),
    "jobs": _operator_screen(),
    # Every merchant's webhook endpoints, the disabled ones first (SPEC §10): a list to
    # open each merchant's Settings → Webhooks from; changes are made there.
    "webhook_endpoints": _operator_screen("details"),
    # Risk (SPEC §11): the matching policy (the default and each merchant's), the
    # blocklists, and the review queue of held deposits.
    "risk": _operator_screen("save_policy", "follow_default", "blocks", "add_block", "remove_block"),
    "review": _operator_screen("decided", "approve", "refuse"),
}


def allowed(screen, permission, role):
    """May ``role`` (None: signed out) use ``permission`` on ``screen``? Unknown: no."""
    if role is None:
        return False
    return role in SCREENS.get(screen, {}).get(permission, NOBODY)


def roles_for(screen, permission):
    return SCREENS.get(screen, {}).get(permission, NOBODY)


__all__ = ["EVERYONE", "MERCHANT_USERS", "OPERATOR", "OPERATORS", "OWNER", "OWNERS", "ROLES", "SCREENS", "STAFF",
           "allowed", "roles_for"]
