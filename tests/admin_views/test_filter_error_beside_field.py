"""Issue 22, point 4: a bad value in one of a list's basic filters shows its error beside
that field, in the filters' row (``aria-invalid``, ``aria-describedby``), and keeps the
rest of the page: the list answers with the other filters applied, nothing is flashed
for it. Every list with a date filter in its row, as a class."""
import re

import pytest
from helpers import login

import factories

LISTS = ["/admin/transactions/", "/admin/withdrawals/", "/admin/postbacks/", "/admin/audit_log/",
         "/admin/attempts/", "/admin/pending_activations/"]
FIELD = re.compile(r'<input class="[^"]*bo-moment[^"]*" type="datetime-local" id="(bf-[^"]+)" name="(flt\d+_[^"]+)"')


@pytest.fixture
def operator(client, conn):
    ps = factories.payment_system("bkash", "BDT")
    m = factories.merchant(name="Shop")
    factories.merchant_payment_system(m, ps)
    factories.transaction(factories.wallet(m, ps), label="alice")
    user = factories.user("operator")
    login(client, user)
    return user


@pytest.mark.parametrize("url", LISTS)
def test_a_bad_date_shows_its_error_beside_the_field(client, operator, url):
    page = client.get(url).get_data(as_text=True)
    fields = FIELD.findall(page)
    assert fields, f"{url} has no date filter in its row"
    field_id, arg = fields[0]
    answer = client.get(url, query_string={arg: "2026-13-45 not a date"})
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    row = page[page.index('data-testid="basic-filters"'):]
    row = row[:row.index("</form>")]
    assert f'id="{field_id}-error"' in row and 'aria-invalid="true"' in row
    error = re.search(rf'<div id="{field_id}-error"[^>]*>([^<]+)</div>', row).group(1)
    assert "2026-13-45 not a date" in error  # what was given, and what the filter takes
    assert error not in page.replace(row, "")  # not flashed as well
    assert 'class="table table-striped' in page or "model-list" in page  # the rest of the page is there


def test_a_good_value_has_no_error_and_other_filters_still_apply(client, operator):
    page = client.get("/admin/transactions/").get_data(as_text=True)
    (field_id, date_arg), = FIELD.findall(page)[:1]
    label_arg = re.search(r'name="(flt\d+_label_equals)"', page).group(1)
    answer = client.get("/admin/transactions/", query_string={date_arg: "garbage", label_arg: "nobody"})
    page = answer.get_data(as_text=True)
    assert f'id="{field_id}-error"' in page
    assert "alice" not in page  # the label filter was applied although the date was refused
    clean = client.get("/admin/transactions/", query_string={label_arg: "alice"}).get_data(as_text=True)
    assert 'data-testid="filter-error"' not in clean and "alice" in clean
