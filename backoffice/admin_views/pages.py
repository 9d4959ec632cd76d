"""Pages that are not model lists: the settings."""
from flask_admin import expose

from .base import EVERYONE, SecureBaseView


class SettingsView(SecureBaseView):
    """Profile, system, plugin appearance and installation arrive with the settings issues."""

    allowed_roles = EVERYONE

    @expose("/")
    def index(self):
        return self.render("admin/settings.html")
