/* The plugin page's script: choose a payment system, copy the wallet number, send
   the transaction number to /plugin/api/activate, say the outcome in plain words and
   tell the host page (through the loader) what happened. While a delayed activation
   waits for its report ("pending"), ask /plugin/api/pending now and then and say the
   deposit's outcome when it comes. No dependencies. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("bo-settings").textContent);
  var msg = cfg.messages;
  var form = document.getElementById("bo-form");
  var result = document.getElementById("bo-result");
  var number = document.getElementById("bo-number");
  var submit = form.querySelector(".bo-submit");

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (all, k) { return values && values[k] != null ? values[k] : all; });
  }
  function say(text, kind) {
    result.className = "bo-result" + (kind ? " bo-" + kind : "");
    result.textContent = text;
    resize();
  }
  function post(data) {
    if (cfg.parent && window.parent !== window) window.parent.postMessage(data, cfg.parent);
  }
  var lastHeight = 0;
  function resize() {
    var h = Math.ceil(document.documentElement.scrollHeight);
    if (h !== lastHeight) { lastHeight = h; post({type: "backoffice:resize", height: h}); }
  }
  function chosen() {
    var r = form.querySelector("input[name=payment_system]:checked");
    return r ? r.value : null;
  }
  function show(code, focus) {
    var sections = document.querySelectorAll(".bo-pay");
    for (var i = 0; i < sections.length; i++) {
      var on = sections[i].getAttribute("data-ps") === code;
      sections[i].hidden = !on;
      if (on && focus) sections[i].querySelector(".bo-h").focus();
    }
    resize();
  }
  form.addEventListener("change", function (e) {
    if (e.target.name === "payment_system") show(e.target.value, false);
  });
  var copies = document.querySelectorAll(".bo-copy");
  for (var i = 0; i < copies.length; i++) {
    copies[i].addEventListener("click", function (e) {
      var text = e.currentTarget.getAttribute("data-copy");
      var done = function () { say(msg.copied, "info"); };
      var fallback = function () {
        var t = document.createElement("textarea");
        t.value = text; t.setAttribute("readonly", ""); t.style.position = "fixed"; t.style.opacity = "0";
        document.body.appendChild(t); t.select();
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (err) { ok = false; }
        document.body.removeChild(t);
        ok ? done() : say(msg.copy_failed, "warn");
      };
      if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(text).then(done, fallback);
      else fallback();
    });
  }
  var outcomeKind = {activated: "ok", stockpiling: "info", pending: "info", not_found: "warn",
                     already_activated: "warn", expired: "warn", rejected: "error"};
  function ask(path, body) {
    return fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                        body: JSON.stringify(body), credentials: "omit"})
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) { return {code: r.status, body: j}; });
      });
  }
  // The delayed activation being watched: {until, timer}. The server says when it has
  // expired (the visitor's clock may be wrong); "until" only bounds a page left open.
  var waiting = null;
  var WATCH_AT_MOST = 6 * 3600 * 1000;
  function stopWaiting() {
    if (waiting) clearTimeout(waiting.timer);
    waiting = null;
  }
  function watch(request) {
    stopWaiting();
    var w = waiting = {until: Date.now() + WATCH_AT_MOST, timer: null};
    function later() {
      if (waiting === w && Date.now() <= w.until) w.timer = setTimeout(check, cfg.poll_ms);
    }
    function check() {
      ask("/plugin/api/pending", request).then(function (r) {
        if (waiting !== w) return;
        var status = r.code === 200 ? r.body.status : null;
        if (!status || status === "pending") { later(); return; }
        stopWaiting();
        if (status !== "not_found") finish(r.body, request);
      }, later);
    }
    later();
  }
  function finish(body, request) {
    var status = body.status;
    say(fill(msg[status] || msg.error, body), outcomeKind[status] || "error");
    var out = {type: "backoffice:deposit", status: status, amount: body.amount || body.accumulated || null,
               currency: body.currency || null, order_id: cfg.order_id};
    if (cfg.after === "redirect") {
      var where = status === "activated" ? "success" :
        (status === "pending" || status === "stockpiling") ? "pending" :
        (status === "rejected" || status === "already_activated" || status === "expired") ? "fail" : null;
      if (where && cfg.redirects[where]) out.redirect = cfg.redirects[where];
    } else if (cfg.after === "close" && status === "activated") {
      out.close = true;
    }
    post(out);
    if (status === "pending" && !out.redirect) watch(request);
  }
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var code = chosen();
    if (!code) { say(msg.choose_first, "warn"); return; }
    var value = number.value.trim();
    if (!value) { number.setAttribute("aria-invalid", "true"); say(msg.empty_number, "warn"); number.focus(); return; }
    number.removeAttribute("aria-invalid");
    stopWaiting();
    submit.disabled = true;
    say(msg.checking, "info");
    var body = {merchant: cfg.merchant, payment_system: code, transaction_number: value, label: cfg.label};
    if (cfg.order_id) body.order_id = cfg.order_id;
    if (cfg.signature) body.signature = cfg.signature;
    ask("/plugin/api/activate", body)
      .then(function (r) {
        if (r.code === 200 && r.body.status) finish(r.body, body);
        else if (r.code === 429) say(msg.too_many, "error");
        else if (r.code === 403 && r.body.error && r.body.error.code === "bad_signature") say(msg.bad_signature, "error");
        else say(msg.error, "error");
      }, function () { say(msg.error, "error"); })
      .then(function () { submit.disabled = false; });
  });
  if (window.ResizeObserver) new ResizeObserver(resize).observe(document.body);
  window.addEventListener("load", resize);
  resize();
})();
