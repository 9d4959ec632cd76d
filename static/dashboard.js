/* The dashboard: loads stats.json and draws it with Chart.js; toggles stay client-side.

   States (issue 22, point 7): while stats.json loads, the figures and the chart area are
   aria-busy and a short sentence stands in for the chart; when it fails, a sentence and a
   "Try again" button; a tab with nothing in the period shows its zero figure (with its
   currency, from the server's ``figures``) and a sentence, never a blank 0-1 chart. Both
   tabs (deposits, withdrawals) have the same toggles: amount | count, line | histogram,
   each series and the total switchable (checkboxes and the chart's legend agree). */
(function () {
  "use strict";
  var box = document.getElementById("dashboard-summary");
  // No stats URL: a filter is not valid (the page says which, beside it); nothing to load.
  if (!box || !box.dataset.statsUrl) { return; }
  var labels = box.dataset;
  var area = document.getElementById("dashboard-chart-area");
  var stateBox = document.getElementById("dashboard-state");
  var chartBox = area.querySelector(".bo-chart");
  var caption = document.getElementById("dashboard-caption");
  var state = { tab: "deposits", measure: "amount", chart: "line", hidden: { deposits: {}, withdrawals: {} },
                data: null, chartObj: null };
  var palette = ["#007bff", "#28a745", "#fd7e14", "#6f42c1", "#e83e8c", "#17a2b8", "#ffc107", "#20c997", "#6c757d"];
  // The figure of each tab in stats.json's ``figures``, its caption and its empty sentence.
  var TABS = {
    deposits: { figure: "period", caption: labels.labelCaptionDeposits, empty: labels.labelEmptyDeposits },
    withdrawals: { figure: "withdrawals_period", caption: labels.labelCaptionWithdrawals,
                   empty: labels.labelEmptyWithdrawals }
  };

  function busy(on) {
    box.setAttribute("aria-busy", on ? "true" : "false");
    area.setAttribute("aria-busy", on ? "true" : "false");
  }

  function figureText(rows) {
    return (rows || []).map(function (row) { return row.text; }).join(" | ");
  }

  function destroyChart() {
    if (state.chartObj) { state.chartObj.destroy(); state.chartObj = null; }
  }

  // A sentence instead of the chart: kind is "loading", "empty" or "error".
  function showState(kind, text) {
    destroyChart();
    chartBox.hidden = true;
    stateBox.hidden = false;
    stateBox.dataset.state = kind;
    stateBox.textContent = "";
    if (kind === "loading") {
      var spinner = document.createElement("span");
      spinner.className = "spinner-border spinner-border-sm mr-2";
      spinner.setAttribute("aria-hidden", "true");
      stateBox.appendChild(spinner);
    }
    var words = document.createElement("span");
    words.setAttribute("data-state-text", "");
    words.textContent = text;
    stateBox.appendChild(words);
    if (kind === "error") {
      var retry = document.createElement("button");
      retry.type = "button";
      retry.className = "btn btn-outline-primary btn-sm";
      retry.textContent = labels.labelRetry;
      retry.addEventListener("click", load);
      stateBox.appendChild(retry);
    }
  }

  function showChart() {
    stateBox.hidden = true;
    stateBox.dataset.state = "chart";
    stateBox.textContent = "";
    chartBox.hidden = false;
  }

  function datasets() {
    var block = state.data[state.tab];
    var hidden = state.hidden[state.tab];
    var sets = block.series.map(function (s, i) {
      return { key: s.payment_system, label: s.name + (state.data.details ? " (" + s.currency + ")" : ""),
               data: s[state.measure].map(Number), borderColor: palette[i % palette.length],
               backgroundColor: palette[i % palette.length], fill: false };
    });
    block.total.forEach(function (t) {
      sets.push({ key: "total-" + t.currency, label: labels.labelTotal + " (" + t.currency + ")",
                  data: t[state.measure].map(Number), borderColor: "#343a40", backgroundColor: "#343a40",
                  borderDash: [6, 4], fill: false });
    });
    sets.forEach(function (set) { set.hidden = !!hidden[set.key]; });
    return sets;
  }

  // A series switched on or off (its checkbox or the legend): the chart keeps its other settings.
  function setHidden(key, hide) {
    state.hidden[state.tab][key] = hide;
    var input = document.getElementById("toggle-" + key);
    if (input) { input.checked = !hide; }
    var chart = state.chartObj;
    var index = chart ? chart.data.datasets.map(function (set) { return set.key; }).indexOf(key) : -1;
    if (index < 0) { draw(); return; }
    chart.data.datasets[index].hidden = hide;
    chart.setDatasetVisibility(index, !hide);
    chart.update();
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
      input.checked = !set.hidden;
      input.setAttribute("data-series", set.key);
      input.addEventListener("change", function () { setHidden(set.key, !input.checked); });
      var label = document.createElement("label");
      label.className = "form-check-label"; label.htmlFor = id; label.textContent = set.label;
      wrap.appendChild(input); wrap.appendChild(label); holder.appendChild(wrap);
    });
  }

  function draw() {
    var sets = datasets();
    destroyChart();
    if (!sets.length) {  // nothing in the period: the zero figure (caption) and a sentence
      showState("empty", TABS[state.tab].empty);
      return sets;
    }
    showChart();
    if (window.Chart) {
      state.chartObj = new window.Chart(document.getElementById("dashboard-chart"), {
        type: state.chart, data: { labels: state.data.days, datasets: sets },
        // Ticks and tooltips in the page's language (issue 22, point 3: "1 250,5" in Russian).
        options: { responsive: true, maintainAspectRatio: false, animation: false,
                   locale: document.documentElement.lang || undefined,
                   scales: { y: { beginAtZero: true } },
                   plugins: { legend: { display: true, onClick: function (event, item, legend) {
                     var set = legend.chart.data.datasets[item.datasetIndex];
                     if (set) { setHidden(set.key, !state.hidden[state.tab][set.key]); }
                   } } } }
      });
    }
    return sets;
  }

  function render() {
    var figures = state.data.figures || {};
    box.querySelector('[data-summary="period"]').textContent = figureText(figures.period);
    box.querySelector('[data-summary="today"]').textContent = figureText(figures.today);
    var tab = TABS[state.tab];
    caption.textContent = tab.caption + ": " + figureText(figures[tab.figure]);
    toggles(draw());
  }

  function failed() {
    busy(false);
    state.data = null;
    box.querySelectorAll("[data-summary]").forEach(function (el) { el.textContent = labels.labelUnavailable; });
    caption.textContent = "";
    document.getElementById("series-toggles").textContent = "";
    showState("error", labels.labelError);
  }

  function pressed(selector, attr, value) {
    document.querySelectorAll(selector).forEach(function (b) {
      var on = b.getAttribute(attr) === value;
      b.classList.toggle("active", on);
      b.setAttribute(b.getAttribute("role") === "tab" ? "aria-selected" : "aria-pressed", on ? "true" : "false");
      if (b.getAttribute("role") === "tab") {  // one tab in the Tab order; the panel named by it
        b.tabIndex = on ? 0 : -1;
        if (on) { document.getElementById(b.getAttribute("aria-controls")).setAttribute("aria-labelledby", b.id); }
      }
    });
  }

  document.querySelectorAll("[data-tab]").forEach(function (a) {
    a.addEventListener("click", function (e) {
      e.preventDefault(); state.tab = a.dataset.tab; pressed("[data-tab]", "data-tab", state.tab);
      if (state.data) { render(); }
    });
    // The keyboard of WAI-ARIA tabs: Left/Right (wrapping), Home and End select and focus.
    a.addEventListener("keydown", function (e) {
      var tabs = Array.prototype.slice.call(document.querySelectorAll("[data-tab]"));
      var i = tabs.indexOf(a), next = { ArrowLeft: i - 1, ArrowRight: i + 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (next === undefined) { return; }
      e.preventDefault();
      var target = tabs[(next + tabs.length) % tabs.length];
      target.focus(); target.click();
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

  function load() {
    busy(true);
    box.querySelectorAll("[data-summary]").forEach(function (el) { el.textContent = "…"; });
    showState("loading", labels.labelLoading);
    fetch(box.dataset.statsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) { state.data = data; busy(false); render(); }, failed);
  }

  load();
})();
