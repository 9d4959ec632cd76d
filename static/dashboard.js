/* The dashboard: loads stats.json and draws it with Chart.js; toggles stay client-side. */
(function () {
  "use strict";
  var box = document.getElementById("dashboard-summary");
  // No stats URL: a filter is not valid (the page says which, beside it); nothing to load.
  if (!box || !box.dataset.statsUrl) { return; }
  var state = { tab: "deposits", measure: "amount", chart: "line", hidden: {}, data: null, chartObj: null };
  var palette = ["#007bff", "#28a745", "#fd7e14", "#6f42c1", "#e83e8c", "#17a2b8", "#ffc107", "#20c997", "#6c757d"];

  function fmtTotals(list) {
    if (!list.length) { return "0"; }
    return list.map(function (t) { return t.amount + " " + t.currency + " · " + t.count; }).join(" | ");
  }

  function datasets() {
    var block = state.data[state.tab];
    var sets = block.series.map(function (s, i) {
      return { key: s.payment_system, label: s.name + (state.data.details ? " (" + s.currency + ")" : ""),
               data: s[state.measure].map(Number), borderColor: palette[i % palette.length],
               backgroundColor: palette[i % palette.length], fill: false };
    });
    block.total.forEach(function (t) {
      sets.push({ key: "total-" + t.currency, label: box.dataset.labelTotal + " (" + t.currency + ")",
                  data: t[state.measure].map(Number), borderColor: "#343a40", backgroundColor: "#343a40",
                  borderDash: [6, 4], fill: false });
    });
    return sets;
  }

  function toggles(sets) {
    var holder = document.getElementById("series-toggles");
    holder.textContent = "";
    sets.forEach(function (set) {
      var id = "toggle-" + set.key;
      var wrap = document.createElement("span");
      wrap.className = "form-check form-check-inline";
      var input = document.createElement("input");
      input.type = "checkbox"; input.className = "form-check-input"; input.id = id;
      input.checked = !state.hidden[set.key];
      input.addEventListener("change", function () { state.hidden[set.key] = !input.checked; draw(); });
      var label = document.createElement("label");
      label.className = "form-check-label"; label.htmlFor = id; label.textContent = set.label;
      wrap.appendChild(input); wrap.appendChild(label); holder.appendChild(wrap);
    });
  }

  function draw() {
    var sets = datasets();
    var visible = sets.filter(function (s) { return !state.hidden[s.key]; });
    if (state.chartObj) { state.chartObj.destroy(); }
    if (window.Chart) {
      state.chartObj = new window.Chart(document.getElementById("dashboard-chart"), {
        type: state.chart, data: { labels: state.data.days, datasets: visible },
        options: { responsive: true, maintainAspectRatio: false, animation: false,
                   scales: { y: { beginAtZero: true } } }
      });
    }
    return sets;
  }

  function render() {
    box.querySelector('[data-summary="period"]').textContent = fmtTotals(state.data.summary.period);
    box.querySelector('[data-summary="today"]').textContent = fmtTotals(state.data.summary.today);
    toggles(draw());
  }

  function pressed(selector, attr, value) {
    document.querySelectorAll(selector).forEach(function (b) {
      var on = b.getAttribute(attr) === value;
      b.classList.toggle("active", on);
      b.setAttribute(b.getAttribute("role") === "tab" ? "aria-selected" : "aria-pressed", on ? "true" : "false");
    });
  }

  document.querySelectorAll("[data-tab]").forEach(function (a) {
    a.addEventListener("click", function (e) {
      e.preventDefault(); state.tab = a.dataset.tab; pressed("[data-tab]", "data-tab", state.tab);
      if (state.data) { render(); }
    });
  });
  document.querySelectorAll("[data-measure]").forEach(function (b) {
    b.addEventListener("click", function () {
      state.measure = b.dataset.measure; pressed("[data-measure]", "data-measure", state.measure);
      if (state.data) { draw(); }
    });
  });
  document.querySelectorAll("[data-chart]").forEach(function (b) {
    b.addEventListener("click", function () {
      state.chart = b.dataset.chart; pressed("[data-chart]", "data-chart", state.chart);
      if (state.data) { draw(); }
    });
  });

  fetch(box.dataset.statsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
    .then(function (data) { state.data = data; render(); })
    .catch(function () { document.getElementById("dashboard-note").textContent = box.dataset.labelError; });
})();
