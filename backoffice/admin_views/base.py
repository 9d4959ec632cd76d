"""The base classes every back-office view derives from.

They do the role checks and the tenant scoping in one place, so no later view can
forget them. Scoping a Flask-Admin model view needs more than ``get_query`` (STACK.md):

* ``get_query`` — the list, the export and every action's row set;
* ``get_one`` — details, edit, delete, inline edit: out of scope is a 404, never a
  redirect that still hints at the record;
* ``handle_action`` — the posted row ids are narrowed to the scoped query before any
  action (the built-in delete included) sees them;
* ajax loaders (``form_ajax_refs``) and relation dropdowns — lookups and the value a
  form posts are checked against the scoped query of the related model;
* create/edit — a merchant user's rows always belong to their own merchant, whatever
  the form posted.

Who may open which screen and use which page or action is ``backoffice.roles``' one
table: :class:`RoleMixin` checks it before every exposed page of every view
(``_handle_view``), and :class:`ScopedModelView` derives Flask-Admin's ``can_*`` flags
and the list actions from it. Every list export is written through
``backoffice.csv_safe`` (formula injection); every list's query string is checked
before it reaches the database (a bad filter is ignored, a bad page is the first);
a redirect target the request names must pass ``backoffice.redirects.safe_next``.
"""
import datetime

from flask import Response, abort, flash, has_request_context, redirect, request, stream_with_context, url_for
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin.actions import ActionsMixin
from flask_admin.babel import gettext as admin_gettext
from flask_admin.contrib.peewee import ModelView
from flask_admin.contrib.peewee.ajax import QueryAjaxModelLoader
from flask_admin.helpers import flash_errors
from flask_admin.model import typefmt
from flask_login import current_user
from markupsafe import Markup
from peewee import BigIntegerField, ForeignKeyField, IntegerField
from werkzeug.utils import secure_filename

from .. import csv_safe, roles
from ..i18n import format_datetime
from ..models import ExchangeRate, Merchant, PaymentSystem
from ..redirects import safe_next
from .filter_words import invalid_filter_message
from .timezones import zoned_export_columns

OPERATOR = (roles.OPERATOR,)
MERCHANT_USERS = (roles.OWNER, roles.STAFF)
EVERYONE = OPERATOR + MERCHANT_USERS

# The largest page number or page size a list accepts (beyond: the first page, the default size).
MAX_PAGE = 10 ** 6
MAX_PAGE_SIZE = 1000
# Flask-Admin's own pages, as the permissions of ``backoffice.roles``.
BUILT_IN_PAGES = {
    "index": "view", "index_view": "view", "action_view": "view", "ajax_lookup": "view",
    "details_view": "details", "create_view": "create", "edit_view": "edit", "ajax_update": "edit",
    "delete_view": "delete", "export": "export",
}
# Query-string and form fields that name where to go next.
REDIRECT_PARAMS = ("next", "url")


def current_role():
    if has_request_context() and current_user and current_user.is_authenticated:
        return current_user.role
    return None


def is_operator():
    return current_role() == "operator"


def merchant_scope_column(model):
    """The column that says which merchant a row belongs to (None: not scoped)."""
    if model is Merchant:
        return Merchant.id
    field = model._meta.fields.get("merchant")
    return field if isinstance(field, ForeignKeyField) else None


# Reference data every signed-in user may read (in lookups and dropdowns).
SHARED_MODELS = (PaymentSystem, ExchangeRate)


def scope_query(query, model):
    """Narrow ``query`` on ``model`` to what the current user may see."""
    if is_operator() or (model in SHARED_MODELS and current_role()):
        return query
    column = merchant_scope_column(model)
    if column is None or not current_role():
        return query.where(False)  # unscoped models are operator data
    return query.where(column == current_user.merchant_id)


def _integer_column(column):
    """The integer column behind ``column`` (a foreign key's target), or None."""
    if isinstance(column, ForeignKeyField):
        column = column.rel_field
    return column if isinstance(column, IntegerField) else None


def clean_pk(column, raw):
    """A posted or queried id as the column's type, or None when it is not one (or out
    of the range the column holds in both databases: PostgreSQL's integer or bigint)."""
    integer = _integer_column(column)
    if integer is not None:
        try:
            value = int(str(raw), 10)
        except (TypeError, ValueError):
            return None
        bits = 63 if isinstance(integer, BigIntegerField) else 31
        return value if -(2 ** bits) <= value < 2 ** bits else None
    if raw is None or "\x00" in str(raw):
        return None
    return str(raw)


def permission_of(method_name):
    """The ``backoffice.roles`` permission of a view's exposed method."""
    if method_name in BUILT_IN_PAGES:
        return BUILT_IN_PAGES[method_name]
    return method_name[:-len("_view")] if method_name.endswith("_view") else method_name


class LiveChoices:
    """Filter options read from the database each time a page shows them.

    Flask-Admin evaluates a filter's options once, when the view is built (before
    the database may even exist); this object is iterated afresh on every request.
    """

    def __init__(self, loader):
        self.loader = loader

    def __call__(self):
        return self

    def __iter__(self):
        return iter(self.loader())

    def __bool__(self):
        return True


def form_errors(form, exc):
    """A service's field errors (``SettingsError``) onto the form's fields; an error
    naming no field of the form is flashed."""
    for name, message in exc.errors.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors) + [message]
        else:
            flash(message, "error")


@LiveChoices
def payment_system_choices():
    """Filter options: every payment system, by name."""
    return [(ps.id, ps.name) for ps in PaymentSystem.select().order_by(PaymentSystem.name)]


class RoleMixin:
    """Who may open a view and each of its pages: ``backoffice.roles.SCREENS`` by the
    view's endpoint. Anonymous users go to the login page; a signed-in user the table
    does not allow gets 403, on every exposed page (present and future: deny by default)."""

    def may(self, permission):
        return roles.allowed(self.endpoint, permission, current_role())

    def is_accessible(self):
        return self.may("view")

    def is_visible(self):
        return self.is_accessible()

    def inaccessible_callback(self, name, **kwargs):
        if current_role() is None:
            return redirect(url_for("auth.login", next=safe_next(request.full_path)))
        abort(403)

    def _handle_view(self, name, **kwargs):
        if not (self.is_accessible() and self.may(permission_of(name))):
            return self.inaccessible_callback(name, **kwargs)
        # Flask-Admin and our pages redirect to ``url`` / ``next``: same-site paths only.
        for param in REDIRECT_PARAMS:
            for value in request.values.getlist(param):
                if value and safe_next(value) is None:
                    abort(400)
        return None


class SecureIndexView(RoleMixin, AdminIndexView):
    pass


class SecureBaseView(RoleMixin, BaseView):
    pass


class ScopedAjaxLoader(QueryAjaxModelLoader):
    """An ajax lookup that only finds, and only accepts, rows in the user's scope."""

    def get_one(self, pk):
        column = getattr(self.model, self.pk)
        value = clean_pk(column, pk)
        if value is None:
            return None
        return scope_query(self.model.select(), self.model).where(column == value).first()

    def get_list(self, term, offset=0, limit=10):
        query = scope_query(self.model.select(), self.model)
        if term and "\x00" in term:
            return []
        if term:
            stmt = None
            for field in self._cached_fields:
                clause = field ** f"%{term}%"
                stmt = clause if stmt is None else (stmt | clause)
            query = query.where(stmt)
        return list(query.offset(offset or 0).limit(limit))


class ScopedModelView(RoleMixin, ModelView):
    """A model view scoped to the current user's merchant (operators see all).

    Permissions are per role, from ``backoffice.roles``: ``create``, ``edit``,
    ``delete``, ``details``, ``export`` and each list action by its name.
    """

    simple_list_pager = True  # no COUNT(*) over big tables
    page_size = 50
    can_set_page_size = True
    column_display_pk = True
    column_type_formatters = None  # set in __init__ (needs the module's formatter)

    def __init__(self, *args, **kwargs):
        formatters = dict(typefmt.BASE_FORMATTERS)
        formatters[datetime.datetime] = lambda view, value, name: format_datetime(value)
        self.column_type_formatters = formatters
        export = dict(typefmt.EXPORT_FORMATTERS)  # text, not the list's HTML icons
        export[datetime.datetime] = formatters[datetime.datetime]
        self.column_type_formatters_export = export
        detail = dict(typefmt.DETAIL_FORMATTERS)
        detail[datetime.datetime] = formatters[datetime.datetime]
        self.column_type_formatters_detail = detail
        # Flask-Admin builds its caches (details columns, export columns, forms) only
        # for what ``can_*`` allows when the view is built; build them all, and let
        # each request decide by role.
        self._building = True
        try:
            super().__init__(*args, **kwargs)
        finally:
            self._building = False

    # -- permissions by role ---------------------------------------------------------
    def _may(self, what):
        if getattr(self, "_building", False):
            return True
        return self.may(what)

    # Flask-Admin reads these flags; each follows the role table above.
    can_create = property(lambda self: self._may("create"))
    can_edit = property(lambda self: self._may("edit"))
    can_delete = property(lambda self: self._may("delete"))
    can_view_details = property(lambda self: self._may("details"))
    can_export = property(lambda self: self._may("export"))

    def _guard(self, what):
        if not self._may(what):
            abort(403)

    # -- scoping -----------------------------------------------------------------------
    def get_query(self):
        return scope_query(self.model.select(), self.model)

    def get_one(self, id):
        pk = getattr(self.model, self._primary_key)
        value = clean_pk(pk, id)
        if value is None:
            abort(404)
        record = self.get_query().where(pk == value).first()
        if record is None:
            abort(404)
        return record

    def scoped_ids(self, ids):
        pk = getattr(self.model, self._primary_key)
        clean = [v for v in (clean_pk(pk, raw) for raw in ids) if v is not None]
        if not clean:
            return []
        return [row[0] for row in self.get_query().select(pk).where(pk.in_(clean)).tuples()]

    def handle_action(self, return_view=None):
        form = self.action_form()
        if self.validate_form(form):
            action = form.action.data
            handler = self._actions_data.get(action)
            if handler and not self.is_action_allowed(action):
                abort(403)
            if handler:
                response = handler[0](self.scoped_ids(request.form.getlist("rowid")))
                if response is not None:
                    return response
        else:
            flash_errors(form, message=admin_gettext("Failed to perform action. %(error)s"))
        url = self.get_url("." + return_view) if return_view else (
            safe_next(request.values.get("url")) or self.get_url(".index_view"))
        return redirect(url)

    def is_action_allowed(self, name):
        """A list action (the built-in delete included) is the role table's, by its name."""
        return self._may(name) and super().is_action_allowed(name)

    def _create_ajax_loader(self, name, options):
        return ScopedAjaxLoader(name, options["model"] if "model" in options else self._related_model(name), **options)

    def _related_model(self, name):
        return getattr(self.model, name).rel_model

    def _scope_form(self, form):
        """Relation dropdowns list only rows in scope; a merchant user cannot pick a merchant."""
        for field in form:
            query = getattr(field, "query", None)
            model = getattr(query, "model", None)
            if model is not None:
                field.query = scope_query(model.select(), model)
        if not is_operator() and "merchant" in form:
            del form["merchant"]
        return form

    def create_form(self, obj=None):
        return self._scope_form(super().create_form(obj))

    def edit_form(self, obj=None):
        return self._scope_form(super().edit_form(obj))

    def on_model_change(self, form, model, is_created):
        if not is_operator() and merchant_scope_column(self.model) is not None and self.model is not Merchant:
            model.merchant = current_user.merchant_id

    # Each view checks its own permission before Flask-Admin's code runs, so a role
    # without "edit" gets 403 rather than a silent redirect. (An override must be
    # exposed again: Flask-Admin collects routes from the attributes it finds.)
    @expose("/new/", methods=("GET", "POST"))
    def create_view(self):
        self._guard("create")
        return super().create_view()

    @expose("/edit/", methods=("GET", "POST"))
    def edit_view(self):
        self._guard("edit")
        return super().edit_view()

    @expose("/details/")
    def details_view(self):
        self._guard("details")
        return super().details_view()

    @expose("/delete/", methods=("POST",))
    def delete_view(self):
        self._guard("delete")
        return super().delete_view()

    # CSV headers name the viewer's time zone on every date column (issue 7):
    # Flask-Admin caches the export columns when the view is built; label them per request.
    @property
    def _export_columns(self):
        columns = self.__dict__.get("_export_columns_cached", [])
        return zoned_export_columns(self, columns) if has_request_context() else columns

    @_export_columns.setter
    def _export_columns(self, value):
        self.__dict__["_export_columns_cached"] = value

    @expose("/export/<export_type>/")
    def export(self, export_type):
        self._guard("export")
        if export_type != "csv":
            abort(404)  # every export is a CSV written through csv_safe
        return super().export(export_type)

    def _export_csv(self, return_url):
        """The list as CSV, streamed: every cell (titles too) through ``csv_safe``."""
        _count, data = self._export_data()
        columns = self._export_columns
        header = [title for _name, title in columns]
        rows = ([self.get_export_value(row, name) for name, _title in columns] for row in data)
        return Response(stream_with_context(csv_safe.stream(header, rows)), mimetype="text/csv",
                        headers={"Content-Disposition":
                                 f"attachment;filename={secure_filename(self.get_export_name(export_type='csv'))}"})

    def _export_tablib(self, export_type, return_url):
        abort(404)

    def get_export_value(self, model, name):
        """A cell of the export as text: a list formatter's HTML becomes its text (the
        file carries no markup); ``csv_safe`` then neutralises it like any other cell."""
        value = super().get_export_value(model, name)
        return value.striptags() if isinstance(value, Markup) else value

    # -- the list's query string ---------------------------------------------------------------
    def _filter_value_ok(self, flt, value):
        """A filter value the database can take: no NUL byte, an integer in the column's
        range, a date the filter can turn into a query (year 9999 or 1 may not be)."""
        if "\x00" in value:
            return False
        column = getattr(flt, "column", None)
        if _integer_column(column) is not None and clean_pk(column, value) is None:
            return False
        try:
            flt.apply(self.model.select(), flt.clean(value)).sql()
        except (ArithmeticError, TypeError, ValueError):
            return False
        return True

    def get_invalid_value_msg(self, value, filter):  # noqa: A002 - Flask-Admin's name
        """Which filter was left out, what was given and what it takes (``filter_words``)."""
        return invalid_filter_message(filter, value)

    def _get_list_filter_args(self):
        if not self._filters:
            return None
        filters = []
        for arg in request.args:
            if not arg.startswith("flt") or "_" not in arg:
                continue
            pos, key = arg[3:].split("_", 1)
            if key not in self._filter_args:
                continue
            idx, flt = self._filter_args[key]
            value = request.args[arg]
            if flt.validate(value) and self._filter_value_ok(flt, value):
                filters.append((pos, (idx, str(flt.name), value)))
            else:
                # Flask-Admin's own (translated) message; the filter is left out of the query.
                flash(self.get_invalid_value_msg(value.replace("\x00", "\ufffd"), flt), "error")
        return [f[1] for f in sorted(filters, key=lambda f: f[0])]

    def _get_list_extra_args(self):
        args = super()._get_list_extra_args()
        if not 0 <= (args.page or 0) <= MAX_PAGE:
            args.page = 0
        if not 0 <= (args.page_size or 0) <= MAX_PAGE_SIZE:
            args.page_size = 0
        if args.search and "\x00" in args.search:
            args.search = None
        return args

    @expose("/ajax/update/", methods=("POST",))
    def ajax_update(self):
        self._guard("edit")
        return super().ajax_update()


__all__ = [
    "ActionsMixin",
    "EVERYONE",
    "LiveChoices",
    "MERCHANT_USERS",
    "OPERATOR",
    "RoleMixin",
    "ScopedAjaxLoader",
    "ScopedModelView",
    "SecureBaseView",
    "SecureIndexView",
    "form_errors",
    "is_operator",
    "payment_system_choices",
    "scope_query",
]
