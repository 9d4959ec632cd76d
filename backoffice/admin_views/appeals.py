"""Appeals (SPEC §12): the operators' queue and the merchant's read-only list (stub)."""
from flask_admin import expose

from .base import SecureBaseView


class AppealsView(SecureBaseView):
    @expose("/")
    def index(self):
        return self.render("admin/appeals.html")
