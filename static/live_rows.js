/* Rows that update themselves until they settle (issue 22, point 7).

   A page lists deliveries (the Postbacks list, an endpoint's delivery log); the ones not
   settled yet (pending: a test postback just sent, a resend) are named by a live region:
     <div class="sr-only" role="status" aria-live="polite" data-live-rows
          data-url="/admin/postbacks/live.json" data-pending="12,13"></div>
   This script asks ``data-url?id=12&id=13`` (50 ids a request; the answer is scoped like
   the list) and puts each answered cell in its row: the row is ``[data-live-row=ID]`` or
   the list's row whose checkbox has that value; a cell is ``[data-live-cell=NAME]`` or the
   list's ``td.col-NAME``.
   A row whose status changed is marked for a moment, and the change is announced politely
   (the live region says "Postback evt_…: Sent."). A row polls until it is settled (sent or
   error): soon while the delivery is due or in flight, then less often (at the latest when
   the server says its next attempt is), never while the page is hidden; after 30 minutes,
   or after a few failed requests in a row, it stops. The region's ``data-live-state``
   says where it is (polling, settled, stopped). */
(function () {
  "use strict";
  var FIRST = 1500;            // ms before the first question, and after a change
  var MOST = 30000;            // the longest wait between two questions
  var FAILURES = 5;            // failed requests in a row before giving up
  var LONGEST = 30 * 60 * 1000;  // a page stops asking after this long
  var BATCH = 50;              // ids per request (a page of 100 rows asks in two)

  function rowOf(id) {
    var row = document.querySelector('[data-live-row="' + id + '"]');
    if (row) { return row; }
    var box = document.querySelector('input.action-checkbox[value="' + id + '"]');
    return box ? box.closest("tr") : null;
  }

  function cellOf(row, name) {
    return row.querySelector('[data-live-cell="' + name + '"]') || row.querySelector("td.col-" + name);
  }

  function spinner(row, on) {
    var cell = cellOf(row, "status");
    if (!cell) { return; }
    var mark = cell.querySelector(".bo-live-spinner");
    if (on && !mark) {
      mark = document.createElement("span");
      mark.className = "spinner-border spinner-border-sm ml-1 bo-live-spinner";
      mark.setAttribute("aria-hidden", "true");
      cell.appendChild(mark);
    } else if (!on && mark) {
      mark.parentNode.removeChild(mark);
    }
  }

  // Puts the answer's cells in the row; true when its status changed.
  function apply(row, item) {
    var changed = row.getAttribute("data-live-status") !== item.status;
    Object.keys(item.cells).forEach(function (name) {
      var cell = cellOf(row, name);
      if (cell) { cell.innerHTML = item.cells[name]; }  // the server's HTML, escaped as the list's
    });
    row.setAttribute("data-live-status", item.status);
    spinner(row, !item.settled);
    if (changed) {
      row.classList.remove("bo-live-changed");
      void row.offsetWidth;  // restart the mark's animation
      row.classList.add("bo-live-changed");
    }
    return changed;
  }

  function watch(region) {
    var pending = (region.getAttribute("data-pending") || "").split(",").filter(Boolean);
    var url = region.getAttribute("data-url");
    if (!pending.length || !url) { region.setAttribute("data-live-state", "settled"); return; }
    var delay = FIRST, failures = 0, started = Date.now(), asleep = false, polls = 0;
    pending.forEach(function (id) {
      var row = rowOf(id);
      if (row) { row.setAttribute("data-live-status", "pending"); spinner(row, true); }
    });

    function stop(state) {
      region.setAttribute("data-live-state", state);
      pending.forEach(function (id) { var row = rowOf(id); if (row) { spinner(row, false); } });
    }

    function later(ms) {
      if (Date.now() - started > LONGEST) { stop("stopped"); return; }
      window.setTimeout(poll, ms);
    }

    function ask(ids) {
      var query = ids.map(function (id) { return "id=" + encodeURIComponent(id); }).join("&");
      return fetch(url + "?" + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); });
    }

    function poll() {
      if (document.hidden) { asleep = true; return; }  // asks again when the page is seen
      polls += 1;
      region.setAttribute("data-polls", String(polls));
      var asks = [];
      for (var i = 0; i < pending.length; i += BATCH) { asks.push(ask(pending.slice(i, i + BATCH))); }
      Promise.all(asks)
        .then(function (answers) {  // one answer, as if one request had asked about them all
          return { rows: [].concat.apply([], answers.map(function (a) { return a.rows; })),
                   poll_after: Math.min.apply(null, answers.map(function (a) {
                     return a.poll_after === null ? Infinity : a.poll_after; })) };
        })
        .then(function (data) {
          failures = 0;
          var changed = false, said = [];
          data.rows.forEach(function (item) {
            var row = rowOf(item.id);
            if (row && apply(row, item)) { changed = true; said.push(item.announce); }
          });
          if (said.length) { region.textContent = said.join(" "); }
          // An id not answered (deleted, or no longer in scope) is not asked about again.
          pending = data.rows.filter(function (item) { return !item.settled; })
            .map(function (item) { return String(item.id); });
          if (!pending.length) { stop("settled"); return; }
          delay = changed ? FIRST : Math.min(Math.round(delay * 1.5), MOST);
          later(Math.max(delay, (data.poll_after || 0) * 1000));
        })
        .catch(function () {
          failures += 1;
          if (failures >= FAILURES) { stop("stopped"); return; }
          delay = Math.min(delay * 2, MOST);
          later(delay);
        });
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && asleep) { asleep = false; poll(); }
    });
    region.setAttribute("data-live-state", "polling");
    later(FIRST);
  }

  document.querySelectorAll("[data-live-rows]").forEach(watch);
})();
