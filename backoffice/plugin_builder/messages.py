"""The plugin page's words, in every language it speaks (en, ru).

The project has no compiled gettext catalogues yet, and the plugin page must speak the
language the merchant's snippet asks for (``data-lang``), whatever the back office's
locale: so the page uses this small table (chosen with ``pick_language``), and the
outcome messages are handed to the page's script as JSON. Placeholders are
``{name}`` (filled in the browser with ``textContent``, never as HTML).
"""
from .. import config

LANGUAGES = tuple(config.LANGUAGES)  # the back office's languages: each needs its words below

MESSAGES = {
    "en": {
        "title": "Deposit",
        "choose": "1. Choose a payment system",
        "min_deposit": "Minimum deposit: {amount} {currency}",
        "send_to": "2. Send the money to this {name} wallet",
        "wallet_number": "Wallet number",
        "copy": "Copy",
        "copied": "Copied",
        "copy_failed": "Select the number and copy it by hand.",
        "prompt_alt": "How to pay with {name}",
        "number_label": "3. Transaction number",
        "number_help": "You find it in the payment system's app after paying.",
        "sender_label": "Last 4 digits of the wallet you paid from",
        "sender_help": "Your own wallet or phone number, the one the money was sent from: type only its last "
                       "4 digits.",
        "sender_invalid": "Enter exactly 4 digits: the end of the wallet number you paid from.",
        "amount_label": "Amount you paid",
        "amount_help": "Exactly as you sent it, for example 500 or 500.50.",
        "amount_invalid": "Enter the amount you paid, for example 500 or 500.50.",
        "form_changed": "This payment form has changed. Reload the page and try again.",
        "submit": "Check payment",
        "checking": "Checking your payment…",
        "empty_number": "Enter the transaction number.",
        "choose_first": "Choose a payment system first.",
        "activated": "Payment received: {amount} {currency} has been credited to your account.",
        "stockpiling": "Payment received. You have paid {accumulated} {currency} so far; {remaining} {currency} "
                       "more is needed to reach the minimum deposit of {required} {currency}. Send the rest and "
                       "enter its transaction number.",
        "pending": "We have not received this payment yet. It will be credited automatically as soon as it "
                   "arrives; you can close this window.",
        "not_found": "We could not find a payment with this transaction number. Check the number and try again.",
        "already_activated": "This transaction number has already been used.",
        "expired": "This payment did not arrive in time. If you have paid, contact support with the "
                   "transaction number.",
        "rejected": "This payment cannot be accepted. Please contact support.",
        "bad_signature": "This payment form is not set up correctly. Please contact the site's support.",
        "too_many": "Too many attempts. Please wait a few minutes and try again.",
        "error": "Something went wrong. Please try again.",
        "no_systems": "No payment systems are available right now.",
        "unavailable": "Deposits are not available at the moment.",
        "misconfigured": "This payment form is not set up correctly. Please contact the site's support.",
        "unknown_merchant": "This payment form is not set up correctly.",
    },
    "ru": {
        "title": "Пополнение",
        "choose": "1. Выберите платёжную систему",
        "min_deposit": "Минимальный депозит: {amount} {currency}",
        "send_to": "2. Переведите деньги на этот кошелёк {name}",
        "wallet_number": "Номер кошелька",
        "copy": "Копировать",
        "copied": "Скопировано",
        "copy_failed": "Выделите номер и скопируйте его вручную.",
        "prompt_alt": "Как оплатить через {name}",
        "number_label": "3. Номер транзакции",
        "number_help": "Он есть в приложении платёжной системы после оплаты.",
        "sender_label": "Последние 4 цифры кошелька, с которого вы платили",
        "sender_help": "Номер вашего кошелька или телефона, с которого отправлены деньги: введите только "
                       "4 последние цифры.",
        "sender_invalid": "Введите ровно 4 цифры — окончание номера кошелька, с которого вы платили.",
        "amount_label": "Сумма, которую вы перевели",
        "amount_help": "Точно как в переводе, например 500 или 500,50.",
        "amount_invalid": "Введите сумму перевода, например 500 или 500,50.",
        "form_changed": "Форма оплаты изменилась. Обновите страницу и попробуйте снова.",
        "submit": "Проверить платёж",
        "checking": "Проверяем платёж…",
        "empty_number": "Введите номер транзакции.",
        "choose_first": "Сначала выберите платёжную систему.",
        "activated": "Платёж получен: {amount} {currency} зачислено на ваш счёт.",
        "stockpiling": "Платёж получен. Всего оплачено {accumulated} {currency}; до минимального депозита "
                       "{required} {currency} не хватает {remaining} {currency}. Переведите остаток и введите "
                       "номер его транзакции.",
        "pending": "Мы ещё не получили этот платёж. Он будет зачислен автоматически, как только поступит; "
                   "окно можно закрыть.",
        "not_found": "Платёж с таким номером транзакции не найден. Проверьте номер и попробуйте снова.",
        "already_activated": "Этот номер транзакции уже использован.",
        "expired": "Этот платёж не поступил вовремя. Если вы оплатили, обратитесь в поддержку и сообщите "
                   "номер транзакции.",
        "rejected": "Этот платёж не может быть принят. Обратитесь в поддержку.",
        "bad_signature": "Форма оплаты настроена неверно. Обратитесь в поддержку сайта.",
        "too_many": "Слишком много попыток. Подождите несколько минут и попробуйте снова.",
        "error": "Что-то пошло не так. Попробуйте ещё раз.",
        "no_systems": "Сейчас нет доступных платёжных систем.",
        "unavailable": "Пополнение сейчас недоступно.",
        "misconfigured": "Форма оплаты настроена неверно. Обратитесь в поддержку сайта.",
        "unknown_merchant": "Форма оплаты настроена неверно.",
    },
}

# The keys the page's script needs (outcomes and interaction feedback).
SCRIPT_KEYS = ("copied", "copy_failed", "checking", "empty_number", "choose_first", "activated", "stockpiling",
               "pending", "not_found", "already_activated", "expired", "rejected", "bad_signature", "too_many",
               "error", "sender_invalid", "amount_invalid", "form_changed")


def pick_language(requested, accept_languages=None):
    """``data-lang`` when we speak it, else the browser's best match, else English."""
    if isinstance(requested, str):
        code = requested.strip().lower().split("-")[0]
        if code in LANGUAGES:
            return code
    if accept_languages is not None:
        best = accept_languages.best_match(LANGUAGES)
        if best:
            return best
    return "en"


class Words:
    """``t("key", name=...)`` in one language."""

    def __init__(self, language):
        self.language = language if language in LANGUAGES else "en"
        self.table = MESSAGES[self.language]

    def __call__(self, key, **values):
        text = self.table.get(key) or MESSAGES["en"][key]
        for name, value in values.items():
            text = text.replace("{" + name + "}", str(value))
        return text

    def script_messages(self):
        return {key: self.table[key] for key in SCRIPT_KEYS}
