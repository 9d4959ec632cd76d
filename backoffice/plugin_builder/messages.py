"""The plugin page's words, in every language it speaks (SPEC §13: en, ru, bn, hi, ur).

The words are the project's gettext catalogs, the same files as the back office's
(``backoffice/translations/<lang>/LC_MESSAGES/messages.po``): there is no second string
table. ``MESSAGES`` names each of the page's words by a key (its English text is the
msgid, marked with ``_l`` so ``pybabel extract`` finds it); ``Words(language)`` reads it
in one language from the compiled catalog, whatever the back office's own locale is
(the page speaks the visitor's language, not a signed-in user's). The back office
speaks en and ru only; the plugin speaks the five of ``LANGUAGES``, Urdu right to left.

Placeholders are ``{name}``, filled by ``Words`` or, for the outcome messages handed to
the page's script as JSON, in the browser with ``textContent`` (never as HTML).
"""
import functools
import os

from babel.support import NullTranslations, Translations

from .. import config

LANGUAGES = tuple(config.PLUGIN_LANGUAGES)
RIGHT_TO_LEFT = frozenset(config.RIGHT_TO_LEFT_LANGUAGES)
TRANSLATIONS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "translations")


def _l(message):
    """Marks ``message`` for the catalogs (``pybabel extract -k _l``); ``Words`` translates it."""
    return message


MESSAGES = {
    "title": _l("Deposit"),
    "choose": _l("1. Choose a payment system"),
    "min_deposit": _l("Minimum deposit: {amount} {currency}"),
    "send_to": _l("2. Send the money to this {name} wallet"),
    "wallet_number": _l("Wallet number"),
    "copy": _l("Copy"),
    "copied": _l("Copied"),
    "copy_failed": _l("Select the number and copy it by hand."),
    "prompt_alt": _l("How to pay with {name}"),
    "number_label": _l("3. Transaction number"),
    "number_help": _l("You find it in the payment system's app after paying."),
    "sender_label": _l("Last 4 digits of the wallet you paid from"),
    "sender_help": _l("Your own wallet or phone number, the one the money was sent from: type only its "
          "last 4 digits."),
    "sender_invalid": _l("Enter exactly 4 digits: the end of the wallet number you paid from."),
    "amount_label": _l("Amount you paid"),
    "amount_help": _l("Exactly as you sent it, for example 500 or 500.50."),
    "amount_invalid": _l("Enter the amount you paid, for example 500 or 500.50."),
    "form_changed": _l("This payment form has changed. Reload the page and try again."),
    "submit": _l("Check payment"),
    "checking": _l("Checking your payment…"),
    "empty_number": _l("Enter the transaction number."),
    "choose_first": _l("Choose a payment system first."),
    "activated": _l("Payment received: {amount} {currency} has been credited to your account."),
    "stockpiling": _l("Payment received. You have paid {accumulated} {currency} so far; {remaining} "
          "{currency} more is needed to reach the minimum deposit of {required} {currency}. "
          "Send the rest and enter its transaction number."),
    "pending": _l("We have not received this payment yet. It will be credited automatically as soon "
          "as it arrives; you can close this window."),
    "not_found": _l("We could not find a payment with this transaction number. Check the number and try again."),
    "already_activated": _l("This transaction number has already been used."),
    "expired": _l("This payment did not arrive in time. If you have paid, contact support with the "
          "transaction number."),
    "rejected": _l("This payment cannot be accepted. Please contact support."),
    "bad_signature": _l("This payment form is not set up correctly. Please contact the site's support."),
    "too_many": _l("Too many attempts. Please wait a few minutes and try again."),
    "error": _l("Something went wrong. Please try again."),
    "no_systems": _l("No payment systems are available right now."),
    "unavailable": _l("Deposits are not available at the moment."),
    "misconfigured": _l("This payment form is not set up correctly. Please contact the site's support."),
    "unknown_merchant": _l("This payment form is not set up correctly."),
    # Shown by the loader in place of the frame on a site the merchant has not allowed.
    "site_not_allowed": _l("This payment form cannot be shown on this site. Please tell the site's support."),
    "appeal_open": _l("I paid, but it is not credited"),
    "appeal_title": _l("Report a payment that was not credited"),
    "appeal_intro": _l("Tell us about your payment and we will check it by hand. A screenshot of the "
          "payment helps us find it faster."),
    "appeal_number_label": _l("Transaction number"),
    "appeal_number_invalid": _l("Enter the transaction number of your payment."),
    "appeal_sender_label": _l("Wallet you paid from"),
    "appeal_sender_help": _l("The full number of your own wallet or phone, the one the money was sent from."),
    "appeal_sender_invalid": _l("Enter the number of the wallet you paid from."),
    "appeal_paid_at_label": _l("When you paid"),
    "appeal_paid_at_help": _l("The date and time by your clock; roughly is fine."),
    "appeal_paid_at_invalid": _l("Enter when you paid: not in the future and not more than 90 days ago."),
    "appeal_receipt_label": _l("Receipt (optional)"),
    "appeal_receipt_help": _l("A screenshot of the payment: a PNG or JPEG picture of at most 2 MiB."),
    "appeal_receipt_too_large": _l("This picture is larger than 2 MiB. Choose a smaller one: a screenshot is "
                                   "enough."),
    "appeal_receipt_invalid": _l("We could not accept this file. Choose a PNG or JPEG picture of at most 2 MiB."),
    "appeal_submit": _l("Send for checking"),
    "appeal_sending": _l("Sending…"),
    "appeal_sent": _l("Thank you. We have received your report."),
    "appeal_already": _l("You have reported this payment already; it is being checked."),
    "appeal_too_many_open": _l("Several of your reports are being checked already. Please wait for their answer "
          "before sending another."),
    "appeal_ref": _l("Your reference:"),
    "appeal_next": _l("We will check it; reopen this page to see the answer."),
    "appeals_title": _l("Your reports"),
    "appeal_item": _l("Transaction {number}"),
    "appeal_state_open": _l("Being checked"),
    "appeal_state_matched": _l("Credited"),
    "appeal_state_rejected": _l("Rejected: {reason}"),
    "countdown": _l("This form is valid for {time} more."),
    "session_expired": _l("This payment form has expired. Go back to the site and open the deposit page again."),
    "invalid_session": _l("This payment form is not valid. Go back to the site and open the deposit page again."),
    "amount_to_pay": _l("Amount to pay"),
    "copy_wallet": _l("Copy the wallet number"),
    "copy_amount": _l("Copy the amount"),
    "activated_next": _l("You can close this window or go back to the site."),
    "pending_next": _l("Keep this window open to see the result here, or close it: nothing more is needed from you."),
    "not_found_next": _l("Check the number in your payment app's history. If you paid a moment ago, wait a "
          "minute and try again."),
    "already_next": _l("If you made a new payment, enter that payment's own transaction number."),
    "expired_next": _l("If you paid, tell us below and we will check it by hand."),
    "rejected_next": _l("Contact the site's support and give them the transaction number."),
    "upi_link": _l("Pay with a UPI app"),
    "upi_scan": _l("Scan this code with any UPI app to pay."),
    "upi_qr_alt": _l("UPI payment QR code for {name}"),
    "play_animation": _l("Play the animation"),
    "stop_animation": _l("Stop the animation"),

}

# The keys the page's script needs (outcomes, next steps and interaction feedback).
SCRIPT_KEYS = ("copied", "copy_failed", "checking", "empty_number", "choose_first", "activated", "stockpiling",
               "pending", "not_found", "already_activated", "expired", "rejected", "bad_signature", "too_many",
               "error", "sender_invalid", "amount_invalid", "form_changed",
               "countdown", "session_expired", "invalid_session",
               "activated_next", "pending_next", "not_found_next", "already_next", "expired_next", "rejected_next",
               "play_animation", "stop_animation",
               # the appeal form's feedback and the appeals' states
               "appeal_number_invalid", "appeal_sender_invalid", "appeal_paid_at_invalid", "appeal_receipt_too_large",
               "appeal_receipt_invalid", "appeal_sending", "appeal_sent", "appeal_already", "appeal_too_many_open",
               "appeal_ref", "appeal_next", "appeal_item", "appeal_state_open", "appeal_state_matched",
               "appeal_state_rejected")


def pick_language(requested, accept_languages=None, default=None):
    """``data-lang`` when we speak it, else the browser's best match, else the
    merchant's default (``default``), else English."""
    if isinstance(requested, str):
        code = requested.strip().lower().replace("_", "-").split("-")[0]
        if code in LANGUAGES:
            return code
    # The browser's languages best first, each by its primary tag: "ur-PK, en;q=0.8" is
    # Urdu (werkzeug's best_match would prefer the exact "en" over the region's "ur-PK").
    for value, quality in accept_languages or ():
        code = value.strip().lower().replace("_", "-").split("-")[0]
        if quality > 0 and code in LANGUAGES:
            return code
    return default if default in LANGUAGES else "en"


@functools.lru_cache(maxsize=None)
def _catalog(language):
    if language == "en":
        return NullTranslations()
    return Translations.load(TRANSLATIONS, [language], domain="messages")


class Words:
    """``t("key", name=...)`` in one language."""

    def __init__(self, language):
        self.language = language if language in LANGUAGES else "en"
        self.direction = "rtl" if self.language in RIGHT_TO_LEFT else "ltr"
        self.catalog = _catalog(self.language)

    def text(self, key):
        return self.catalog.gettext(MESSAGES[key])

    def __call__(self, key, **values):
        text = self.text(key)
        for name, value in values.items():
            text = text.replace("{" + name + "}", str(value))
        return text

    def all(self):
        return {key: self.text(key) for key in MESSAGES}

    def script_messages(self):
        return {key: self.text(key) for key in SCRIPT_KEYS}
