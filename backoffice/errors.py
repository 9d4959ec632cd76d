"""The one family of "a business rule refused this input" errors.

Every service error (``AccountError``, ``SettingsError``, ``IngestError``,
``WithdrawalError``, ``AmountError``, …) is a :class:`RuleError`: a ``message`` (one
sentence for people) and ``fields`` (each faulty field named, with its own message;
empty when the input as a whole is refused). ``status`` and ``code`` say how a JSON
API answers it (``400 invalid_request`` unless the class says otherwise), so an API
turns any of them into its error body in one place (``api.register_error_handlers``).

Framework-free on purpose: services, money, security and the plugin builder all
import it, and it imports nothing of theirs.
"""


class RuleError(ValueError):
    """A refused input: ``message`` and ``fields`` (field name -> message)."""

    status = 400
    code = "invalid_request"

    def __init__(self, message=None, fields=None):
        self.fields = dict(fields or {})
        if message is None:
            message = "; ".join(f"{name}: {text}" for name, text in self.fields.items())
        self.message = message
        super().__init__(message)

    def detail_list(self):
        """The field faults as an API's ``details``: ``[{"field", "message"}]``."""
        return [{"field": name, "message": str(text)} for name, text in self.fields.items()]


class FieldError(RuleError):
    """A rule refusing one named field: ``field`` and ``message``, as the services'
    single-field errors (``AccountError``, ``IngestError``, ``ActivationError``) carry."""

    def __init__(self, field, message):
        super().__init__(message, {field: message})
        self.field = field


class RateLimited(RuleError):
    """A per-merchant quota is spent (resends, test sends): ``429`` with ``Retry-After``."""

    status = 429
    code = "rate_limited"

    def __init__(self, message, retry_after):
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))

    def headers(self):
        return {"Retry-After": str(self.retry_after)}
