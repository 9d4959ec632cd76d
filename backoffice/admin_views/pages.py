"""Pages that are not model lists: the dashboard (index) and the settings."""
from flask_admin import expose

from .base import EVERYONE, SecureBaseView, SecureIndexView


class DashboardView(SecureIndexView):
    """Statistics and charts arrive with the dashboard issue."""

    @expose("/")
    def index(self):
        return self.render("admin/dashboard.html")


class SettingsView(SecureBaseView):
    """Profile, system, plugin appearance and installation arrive with the settings issues."""

    allowed_roles = EVERYONE

    @expose("/")
    def index(self):
        return self.render("admin/settings.html")
