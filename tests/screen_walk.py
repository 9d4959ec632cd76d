"""The back office's screens, walked as a role sees them (issue 22, point 9 tests).

:func:`walk` starts at every GET page of the app's URL map the role may open
(``backoffice.roles``) and follows the back-office links each page renders (lists,
details, edit and create forms, filters, pagers…), ``per_endpoint`` URLs per endpoint,
so a screen added later is walked too. Signed in through the test client.
"""
import collections
import html
import re
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit

from helpers import login

from backoffice import roles
from backoffice.admin_views.base import permission_of
from backoffice.models import MatchingPolicy, User, utcnow

NOT_SCREENS = (".export", ".ajax_lookup", ".static", ".stats", ".starter")  # downloads, JSON, files
HREF = re.compile(r"""href=["']([^"'#]+)""")


def may_open(endpoint, role):
    screen, method = endpoint.split(".", 1)
    return roles.allowed(screen, "view", role) and roles.allowed(screen, permission_of(method), role)


def endpoint_of(app, url):
    try:
        endpoint, _args = app.url_map.bind("localhost").match(urlsplit(url).path, method="GET")
    except Exception:  # noqa: BLE001 - not ours, a redirect, a POST-only path
        return None
    return endpoint


def normalised(url):
    """The URL without Flask-Admin's return address (it changes nothing on the page)."""
    parts = urlsplit(html.unescape(url))
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("url", "next")]
    return parts.path + ("?" + urlencode(query) if query else "")


def walk(app, client, role, per_endpoint=4, extra=(), limit=None, skip=None, more=None, refused=None):
    """``({url: page}, Counter(endpoint))``: every screen the role can open.

    The walk of every screen-walking test: ``extra`` start URLs beside the URL map's;
    ``limit(endpoint)`` URLs per endpoint (default ``per_endpoint``); ``skip(endpoint)``
    besides what is not a screen; ``more(page)`` further URLs a page leads to beside its
    links; ``refused(url, response)`` is told of every answer that is not an HTML page."""
    queue = collections.deque(rule.rule for rule in app.url_map.iter_rules()
                              if "GET" in rule.methods and rule.rule.startswith("/admin") and "<" not in rule.rule)
    queue.extend(extra)
    seen, counts, pages = set(), collections.Counter(), {}
    while queue:
        url = normalised(queue.popleft())
        if url in seen:
            continue
        seen.add(url)
        endpoint = endpoint_of(app, url)
        if endpoint is None or endpoint.endswith(NOT_SCREENS) or (skip and skip(endpoint)) \
                or not may_open(endpoint, role):
            continue
        if counts[endpoint] >= (limit(endpoint) if limit else per_endpoint):
            continue
        response = client.get(url)
        if response.status_code != 200 or response.mimetype != "text/html":
            if refused:
                refused(url, response)
            continue
        counts[endpoint] += 1
        page = response.get_data(as_text=True)
        pages[url] = page
        queue.extend(link for link in HREF.findall(page) if link.startswith("/admin"))
        if more:
            queue.extend(more(page))
    return pages, counts


def demo_world(app):
    """The demo's data (made through the services) on a database with the operators'
    default matching policy; ``{"operator": entry, "merchant_owner": entry}`` of the
    demo's credentials (``login``, ``password``)."""
    from backoffice.demo import build_demo

    MatchingPolicy.create(merchant=None, require_sender=True, require_amount=False, amount_tolerance=Decimal("0"),
                          window_minutes=24 * 60, updated_at=utcnow())
    with app.app_context():
        credentials = build_demo("http://127.0.0.1:5000", transactions=80)
    shop = credentials["merchants"][0]
    return {"operator": credentials["operator"], "merchant_owner": shop["owner"]}


def sign_in(client, entry):
    user = User.get(User.login == entry["login"])
    response = login(client, user, password=entry["password"])
    assert response.status_code == 302 and "/login" not in response.headers["Location"], entry["login"]
    return user
