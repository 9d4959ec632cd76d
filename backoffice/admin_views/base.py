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

Every list is one of people's all day (issue 22, points 1 and 2), drawn by
``templates/admin/model/list.html``: default columns that fit a laptop screen
(``column_default_hidden``) and a column chooser remembered per user and list
(``columns_view``, ``services.list_columns``); the operators' Merchant column and
filter (``column_operator_only``, :class:`MerchantFilter`); numbers right-aligned and
dates compact (``column_css``, :func:`list_datetime`); how many rows (``get_list``,
``services.counting``); Refresh on live lists (``list_live``); the basic filters at
once above the list (``column_filters_basic``), the date filters in the viewer's zone
with a time (``timezones``).
"""
import datetime

from flask import Response, abort, flash, g, has_request_context, redirect, request, stream_with_context, url_for
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin.actions import ActionsMixin
from flask_admin.babel import gettext as admin_gettext
from flask_admin.contrib.peewee import ModelView
from flask_admin.contrib.peewee.ajax import QueryAjaxModelLoader
from flask_admin.contrib.peewee.filters import FilterEqual
from flask_admin.helpers import flash_errors
from flask_admin.model import typefmt
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from peewee import BigIntegerField, DateTimeField, DecimalField, FloatField, ForeignKeyField, IntegerField
from werkzeug.utils import secure_filename

from .. import csv_safe, roles
from ..i18n import format_datetime, format_datetime_compact, to_viewer_time, viewer_timezone_name
from ..models import ExchangeRate, Merchant, PaymentSystem
from ..redirects import safe_next
from ..services import counting, list_columns
from . import field_words
from .amounts import money_columns
from .empty_lists import empty_list_message
from .filter_words import invalid_filter_message
from .timezones import LocalMomentFilter, zoned_export_columns
from .zone_names import zone_label

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
    # The list's column chooser: anyone who may see the list chooses its columns.
    "columns_view": "view",
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


# -- lists people use all day (issue 22, points 1 and 2) ----------------------------------------
MERCHANT_CHOICES_LIMIT = 1000


@LiveChoices
def merchant_choices():
    """Filter options: every merchant, by name (operators; nobody else is offered them)."""
    if not is_operator():
        return []
    return [(m.id, m.name) for m in Merchant.select(Merchant.id, Merchant.name).order_by(Merchant.name)
            .limit(MERCHANT_CHOICES_LIMIT)]


class MerchantFilter(FilterEqual):
    """The operators' Merchant filter of a list that mixes merchants. Merchant users are
    not offered it (their list is their merchant's whatever the URL says) and a value
    they send is left out (``ScopedModelView``)."""

    def __init__(self, column, name=_l("Merchant"), options=merchant_choices, **kwargs):
        super().__init__(column=column, name=name, options=options, **kwargs)


def list_datetime(view, value, name):
    """A date-time cell of a list: compact, in the viewer's zone (``i18n``); the full
    value in its title."""
    local = to_viewer_time(value)
    return Markup('<time datetime="%s" title="%s">%s</time>') % (
        local.isoformat(timespec="seconds"), format_datetime(value), format_datetime_compact(value))


NUMERIC_FIELDS = (IntegerField, DecimalField, FloatField)


class RoleMixin:
    """Who may open a view and each of its pages: ``backoffice.roles.SCREENS`` by the
    view's endpoint. Anonymous users go to the login page; a signed-in user the table
    does not allow gets 403, on every exposed page (present and future: deny by default)."""

    def may(self, permission):
        return roles.allowed(self.endpoint, permission, current_role())

    @staticmethod
    def list_time(value):
        """A date-time cell of a list drawn by hand, as every list shows it (``list_datetime``)."""
        return list_datetime(None, value, None) if value is not None else ""

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

    # No unbounded COUNT(*) over big tables: ``get_list`` counts through ``services.counting``
    # (exact up to a bound, the planner's estimate above it).
    simple_list_pager = True
    page_size = 50
    can_set_page_size = True
    column_display_pk = True
    column_type_formatters = None  # set in __init__ (needs the module's formatter)

    def __init__(self, *args, **kwargs):
        formatters = dict(typefmt.BASE_FORMATTERS)
        full = lambda view, value, name: format_datetime(value)  # noqa: E731
        formatters[datetime.datetime] = list_datetime  # lists: compact (issue 22)
        self.column_type_formatters = formatters
        export = dict(typefmt.EXPORT_FORMATTERS)  # text, not the list's HTML icons
        export[datetime.datetime] = full
        self.column_type_formatters_export = export
        detail = dict(typefmt.DETAIL_FORMATTERS)
        detail[datetime.datetime] = full
        self.column_type_formatters_detail = detail
        # Every money column as money in the viewer's language, machine format in the CSV,
        # typed as people write it in forms (issue 22, point 3: ``amounts``).
        money_columns(self, args[0] if args else kwargs["model"])
        # Stored values and yes/no in words on lists and details pages; the CSV keeps
        # what it had (issue 22, point 5: ``field_words``).
        formatters[bool], detail[bool] = field_words.bool_list, field_words.bool_detail
        own, own_detail = self.column_formatters, self.column_formatters_detail
        if self.column_formatters_export is None:
            self.column_formatters_export = own
        self.column_formatters = field_words.value_formatters(args[0] if args else kwargs["model"], own)
        self.column_formatters_detail = field_words.value_formatters(
            args[0] if args else kwargs["model"], own if own_detail is None else own_detail)
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

    # -- names of columns and form fields (issue 22, point 5: ``field_words``) ------------
    def get_column_name(self, field):
        """The view's label, else the one table of field names; never a made-up English one
        when the table knows the field."""
        name = field_words.column_name(self, field)
        return name if name is not None else super().get_column_name(field)

    def scaffold_form(self):
        """Flask-Admin's form, each field labelled as its column is."""
        explicit = self.form_args
        self.form_args = field_words.labelled_form_args(self, explicit)
        try:
            return super().scaffold_form()
        finally:
            self.form_args = explicit

    def search_placeholder(self):
        """The search box's hint: the columns it searches (Flask-Admin's peewee view
        gives none, which its template printed as "None"; issue 22, point 9)."""
        names = ", ".join(str(self.get_column_name(field.name)) for field in getattr(self, "_search_fields", ()))
        return gettext("Search: %(columns)s", columns=names) if names else gettext("Search")

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

    def get_empty_list_message(self):
        """What the list holds, or that nothing matches the filters (issue 22, point 7: ``empty_lists``)."""
        return empty_list_message(self)

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
            if not value.strip() or not self.filter_offered(flt):
                continue  # an empty field of the filters' row; an operators' filter sent by someone else
            if flt.validate(value) and self._filter_value_ok(flt, value):
                filters.append((pos, (idx, str(flt.name), value)))
            else:
                # Flask-Admin's own (translated) message; the filter is left out of the query.
                # A basic filter's shows beside its field in the filters' row (``BasicField.error``),
                # the rest of the page as it is; another filter's is flashed.
                message = self.get_invalid_value_msg(value.replace("\x00", "\ufffd"), flt)
                if any(flt is basic for basic in self._basic_filters()):
                    g.setdefault("bo_filter_errors", {})[key] = message
                else:
                    flash(message, "error")
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

    # -- lists that fit the screen (issue 22, point 1) ----------------------------------------------
    # ``column_list`` names every column a list offers; these say which are shown by default,
    # to whom, and how. The column chooser (``columns_view``) keeps each user's choice.
    column_default_hidden = ()  # offered by the chooser, hidden until a user shows them
    column_operator_only = ("merchant",)  # merchant users' lists are their merchant's: no Merchant column
    column_numeric = ()  # computed columns holding numbers (right-aligned like numeric fields)
    column_classes = {}  # extra CSS classes of a column's cells: "bo-wrap", "bo-wrap-narrow" (text that wraps)
    column_filters_basic = ()  # filters shown at once above the list (point 2); the rest under "Add Filter"
    list_live = False  # rows change by themselves: the toolbar has a Refresh button

    @property
    def _list_columns(self):
        columns = self.__dict__.get("_list_columns_cached", [])
        if getattr(self, "_building", False) or not has_request_context():
            return columns
        return self.visible_columns(columns)

    @_list_columns.setter
    def _list_columns(self, value):
        self.__dict__["_list_columns_cached"] = value

    def offered_columns(self, columns=None):
        """The list's columns this viewer may show: ``(name, title)`` in the list's order."""
        columns = self.__dict__.get("_list_columns_cached", []) if columns is None else columns
        if is_operator():
            return list(columns)
        return [(name, title) for name, title in columns if name not in self.column_operator_only]

    def visible_columns(self, columns=None):
        """The columns shown: the viewer's choice (``services.list_columns``), else the defaults."""
        offered = self.offered_columns(columns)
        chosen = list_columns.chosen(current_user, self.endpoint) if current_role() else None
        if chosen:
            shown = [column for column in offered if column[0] in chosen]
            if shown:
                return shown
        return [column for column in offered if column[0] not in self.column_default_hidden]

    def column_chooser(self):
        """The toolbar's column chooser: ``(name, title, shown)`` of every offered column."""
        shown = {name for name, _title in self.visible_columns()}
        return [(name, title, name in shown) for name, title in self.offered_columns()]

    @expose("/columns/", methods=("POST",))
    def columns_view(self):
        """Remember the columns this user shows on this list (or forget them: ``reset``).
        The CSRF token is checked by the app before this runs."""
        offered = [name for name, _title in self.offered_columns()]
        if request.form.get("reset"):
            list_columns.forget(current_user.id, self.endpoint)
        elif list_columns.choose(current_user.id, self.endpoint, request.form.getlist("column"), offered) is None:
            flash(gettext("Choose at least one column to show."), "error")
        index = self.get_url(".index_view")
        back = safe_next(request.form.get("back") or "")
        return redirect(back if back and back.split("?", 1)[0] == index else index)

    def column_css(self, name):
        """The CSS classes of a column's header and cells: numbers right-aligned
        (``bo-num``), dates kept on one line (``bo-date``), and the view's own."""
        field = self.model._meta.fields.get(name)
        classes = []
        if name in self.column_numeric or isinstance(field, NUMERIC_FIELDS):
            classes.append("bo-num")
        elif isinstance(field, DateTimeField):
            classes.append("bo-date")
        if name in self.column_classes:
            classes.append(self.column_classes[name])
        return " ".join(classes)

    # -- how many rows (the pager) -------------------------------------------------------------------
    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        """The list's rows; the page also learns how many there are (``services.counting``:
        exact up to a bound, an estimate above it on PostgreSQL). An exact count gives the
        numbered pager; an estimate keeps the previous / next one."""
        if not execute:
            return super().get_list(page, sort_column, sort_desc, search, filters, execute=False,
                                    page_size=page_size)
        _count, query = super().get_list(page, sort_column, sort_desc, search, filters, execute=False,
                                         page_size=page_size)
        count = counting.count_rows(query)
        if has_request_context():
            g.list_row_count = count
        return (count.value if count.exact else None), list(query.execute())

    @staticmethod
    def row_count():
        """The count of the list being shown (``counting.RowCount``), or None."""
        return g.get("list_row_count") if has_request_context() else None

    # -- the filters people use (issue 22, point 2) --------------------------------------------------
    def filter_offered(self, flt):
        """Is ``flt`` offered to this viewer (the operators' Merchant filter is theirs)?"""
        return is_operator() or not isinstance(flt, MerchantFilter)

    @staticmethod
    def viewer_zone():
        """The time zone the list's dates and date filters are in (the viewer's), as people
        read it ("Дакка, UTC+06:00", ``zone_names``)."""
        return zone_label(viewer_timezone_name())

    def filter_key(self, flt):
        """The query-string key of one of this view's filters (``flt<n>_<key>``)."""
        for key, (_index, candidate) in (self._filter_args or {}).items():
            if candidate is flt:
                return key
        raise KeyError(flt)

    def _basic_filters(self):
        return [flt for flt in self.column_filters_basic if self.filter_offered(flt)]

    def _is_basic(self, flt):
        return any(flt is basic for basic in self.column_filters_basic)

    def _filter_arg_key(self, arg):
        """The filter key of a query argument ``flt<n>_<key>`` (None: not a filter's)."""
        if not arg.startswith("flt") or "_" not in arg:
            return None
        pos, key = arg[3:].split("_", 1)
        return key if pos.isdigit() and key in (self._filter_args or {}) else None

    def basic_filter_fields(self):
        """The filters' row above the list: one field per basic filter, with what the
        request gives it (``BasicField``)."""
        given = {}
        for arg, value in request.args.items(multi=True):
            key = self._filter_arg_key(arg)
            if key is not None:
                given.setdefault(key, value)
        fields = []
        for position, flt in enumerate(self._basic_filters()):
            key = self.filter_key(flt)
            fields.append(BasicField(flt, key, f"flt{90 + position}_{key}", given.get(key, ""), self))
        return fields

    def basic_filter_hidden(self):
        """The query arguments the filters' row keeps as they are (sorting, search, page
        size, the other filters): ``(name, value)`` pairs."""
        basic = {self.filter_key(flt) for flt in self._basic_filters()}
        return [(arg, value) for arg, value in request.args.items(multi=True)
                if arg != "page" and self._filter_arg_key(arg) not in basic]

    def basic_filter_args(self):
        """The basic filters the request gives (kept by the "Add Filter" form)."""
        basic = {self.filter_key(flt) for flt in self._basic_filters()}
        return [(arg, value) for arg, value in request.args.items(multi=True)
                if self._filter_arg_key(arg) in basic and value.strip()]

    def basic_filters_clear_url(self):
        """The list without its basic filters (the rest kept)."""
        return self.get_url(".index_view", **_multi(self.basic_filter_hidden()))

    def advanced_filter_groups(self, groups):
        """"Add Filter"'s menu: the filters not in the row above the list."""
        if not groups:
            return groups
        out = {}
        for name, items in groups.items():
            kept = [item for item in items if not self._is_basic(self._filters[item["index"]])]
            if kept:
                out[name] = kept
        return out

    def advanced_active_filters(self, active):
        """The active filters "Add Filter"'s rows show (the basic ones have their row)."""
        return [item for item in (active or []) if not self._is_basic(self._filters[item[0]])]

    def _get_filter_groups(self):
        groups = super()._get_filter_groups()
        if groups is None or is_operator():
            return groups
        return {key: items for key, items in groups.items()
                if all(self.filter_offered(self._filters[item["index"]]) for item in items)}


def _multi(pairs):
    """``(name, value)`` pairs as url_for's keyword arguments (a name given twice: a list)."""
    out = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


class BasicField:
    """One field of the filters' row above a list: the filter, its query argument, what
    the request gives it, and how to ask for it (``kind``: select, moment, text)."""

    def __init__(self, flt, key, arg, value, view):
        self.flt, self.key, self.arg, self.value, self.view = flt, key, arg, value, view
        self.id = f"bf-{key}"
        options = flt.get_options(view)  # read once (live choices query the database)
        self.options = list(options) if options is not None else None

    @property
    def kind(self):
        if isinstance(self.flt, LocalMomentFilter):
            return "moment"
        return "select" if self.options is not None else "text"

    @property
    def error(self):
        """Why the value given was left out of the query (None when it was used)."""
        return (g.get("bo_filter_errors") or {}).get(self.key)

    @property
    def blank(self):
        """Does the select offer "All" (no filter)? Not when the filter has its own."""
        return getattr(self.flt, "basic_blank", True)

    @property
    def label(self):
        if isinstance(self.flt, LocalMomentFilter):
            return f"{self.flt.name} {self.flt.operation()}"
        return str(self.flt.name)

    @property
    def input_value(self):
        """What the field shows: a moment as ``datetime-local`` takes it (a day alone: its
        first minute, or its last for "to")."""
        if self.kind != "moment":
            return self.value
        return self.flt.input_value(self.value)


__all__ = [
    "ActionsMixin",
    "EVERYONE",
    "LiveChoices",
    "MERCHANT_USERS",
    "MerchantFilter",
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
