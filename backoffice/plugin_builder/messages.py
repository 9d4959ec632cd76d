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
        # The visitor's appeal: "I paid, but it is not credited" (SPEC §12).
        "appeal_open": "I paid, but it is not credited",
        "appeal_title": "Report a payment that was not credited",
        "appeal_intro": "Tell us about your payment and we will check it by hand. A screenshot of the payment "
                        "helps us find it faster.",
        "appeal_number_label": "Transaction number",
        "appeal_number_invalid": "Enter the transaction number of your payment.",
        "appeal_sender_label": "Wallet you paid from",
        "appeal_sender_help": "The full number of your own wallet or phone, the one the money was sent from.",
        "appeal_sender_invalid": "Enter the number of the wallet you paid from.",
        "appeal_paid_at_label": "When you paid",
        "appeal_paid_at_help": "The date and time by your clock; roughly is fine.",
        "appeal_paid_at_invalid": "Enter when you paid: not in the future and not more than 90 days ago.",
        "appeal_receipt_label": "Receipt (optional)",
        "appeal_receipt_help": "A screenshot of the payment: a PNG or JPEG picture of at most 2 MiB.",
        "appeal_receipt_too_large": "This picture is larger than 2 MiB. Choose a smaller one: a screenshot is "
                                    "enough.",
        "appeal_receipt_invalid": "We could not accept this file. Choose a PNG or JPEG picture of at most 2 MiB.",
        "appeal_submit": "Send for checking",
        "appeal_sending": "Sending…",
        "appeal_sent": "Thank you. We have received your report.",
        "appeal_already": "You have reported this payment already; it is being checked.",
        "appeal_too_many_open": "Several of your reports are being checked already. Please wait for their answer "
                                "before sending another.",
        "appeal_ref": "Your reference:",
        "appeal_next": "We will check it; reopen this page to see the answer.",
        "appeals_title": "Your reports",
        "appeal_item": "Transaction {number}",
        "appeal_state_open": "Being checked",
        "appeal_state_matched": "Credited",
        "appeal_state_rejected": "Rejected: {reason}",
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
        "appeal_open": "Платёж отправлен, но не зачислен",
        "appeal_title": "Сообщить о незачисленном платеже",
        "appeal_intro": "Расскажите о платеже, и мы проверим его вручную. Снимок экрана с платежом поможет "
                        "найти его быстрее.",
        "appeal_number_label": "Номер транзакции",
        "appeal_number_invalid": "Введите номер транзакции вашего платежа.",
        "appeal_sender_label": "Кошелёк, с которого вы платили",
        "appeal_sender_help": "Полный номер вашего кошелька или телефона, с которого отправлены деньги.",
        "appeal_sender_invalid": "Введите номер кошелька, с которого вы платили.",
        "appeal_paid_at_label": "Когда вы платили",
        "appeal_paid_at_help": "Дата и время по вашим часам; можно примерно.",
        "appeal_paid_at_invalid": "Укажите время платежа: не в будущем и не больше 90 дней назад.",
        "appeal_receipt_label": "Квитанция (необязательно)",
        "appeal_receipt_help": "Снимок экрана с платежом: картинка PNG или JPEG не больше 2 МБ.",
        "appeal_receipt_too_large": "Этот файл больше 2 МБ. Выберите файл поменьше: снимка экрана достаточно.",
        "appeal_receipt_invalid": "Этот файл не подходит. Выберите картинку PNG или JPEG не больше 2 МБ.",
        "appeal_submit": "Отправить на проверку",
        "appeal_sending": "Отправляем…",
        "appeal_sent": "Спасибо, ваше обращение получено.",
        "appeal_already": "Вы уже сообщили об этом платеже, он проверяется.",
        "appeal_too_many_open": "Несколько ваших сообщений уже проверяются. Дождитесь ответа на них, прежде чем "
                                "отправлять новое.",
        "appeal_ref": "Номер обращения:",
        "appeal_next": "Мы его проверим; откройте эту страницу снова, чтобы увидеть ответ.",
        "appeals_title": "Ваши обращения",
        "appeal_item": "Транзакция {number}",
        "appeal_state_open": "Проверяется",
        "appeal_state_matched": "Зачислено",
        "appeal_state_rejected": "Отклонено: {reason}",
    },
}

# The keys the page's script needs (outcomes and interaction feedback).
SCRIPT_KEYS = ("copied", "copy_failed", "checking", "empty_number", "choose_first", "activated", "stockpiling",
               "pending", "not_found", "already_activated", "expired", "rejected", "bad_signature", "too_many",
               "error", "sender_invalid", "amount_invalid", "form_changed",
               # the appeal form's feedback and the appeals' states
               "appeal_number_invalid", "appeal_sender_invalid", "appeal_paid_at_invalid", "appeal_receipt_too_large",
               "appeal_receipt_invalid", "appeal_sending", "appeal_sent", "appeal_already", "appeal_too_many_open", "appeal_ref",
               "appeal_next", "appeal_item", "appeal_state_open", "appeal_state_matched", "appeal_state_rejected")


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
