/* The plugin page's script: choose a payment system, copy the wallet number, send
   the transaction number to /plugin/api/activate, say the outcome in plain words and
   tell the host page (through the loader) what happened. While a delayed activation
   waits for its report ("pending"), ask /plugin/api/pending now and then and say the
   deposit's outcome when it comes. When the merchant's matching policy asks for them
   (the page then has the fields), the last 4 digits of the sender's wallet and the
   amount paid go with both requests. No dependencies. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("bo-settings").textContent);
  var msg = cfg.messages;
  var form = document.getElementById("bo-form");
  var result = document.getElementById("bo-result");
  var number = document.getElementById("bo-number");
  var submit = form.querySelector(".bo-submit");
  // The policy's extra fields (SPEC §11): present only when the merchant requires them.
  var extras = {
    sender_last4: {input: document.getElementById("bo-sender"), message: "sender_invalid", read: readSender},
    amount: {input: document.getElementById("bo-amount"), message: "amount_invalid", read: readAmount}
  };
  var EXTRA_NAMES = ["sender_last4", "amount"];

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (all, k) { return values && values[k] != null ? values[k] : all; });
  }
  function say(text, kind) {
    result.className = "bo-result" + (kind ? " bo-" + kind : "");
    result.textContent = text;
    resize();
  }
  // Digits typed on a Bengali, Devanagari, Arabic or full-width keyboard, as 0-9.
  var ZEROS = [0x0660, 0x06f0, 0x0966, 0x09e6, 0xff10];
  function asciiDigits(text) {
    return text.replace(/[\u0660-\u0669\u06f0-\u06f9\u0966-\u096f\u09e6-\u09ef\uff10-\uff19]/g, function (d) {
      var c = d.charCodeAt(0);
      for (var i = 0; i < ZEROS.length; i++) if (c >= ZEROS[i] && c <= ZEROS[i] + 9) return String(c - ZEROS[i]);
      return d;
    });
  }
  // Each reader: the value to send, or null when it is not acceptable.
  function readSender(input) {
    var v = asciiDigits(input.value).replace(/\s+/g, "");
    return /^[0-9]{4}$/.test(v) ? v : null;
  }
  function readAmount(input) {
    // "1 500,50" and "1500.50" alike; at most 2 decimals; more than zero.
    var v = asciiDigits(input.value).replace(/[\s\u00a0\u202f']+/g, "").replace(",", ".");
    if (!/^[0-9]{1,16}(\.[0-9]{1,2})?$/.test(v) || !(parseFloat(v) > 0)) return null;
    return v;
  }
  function fieldError(name, text) {
    var input = extras[name].input;
    var note = document.getElementById(input.id + "-error");
    if (text) {
      input.setAttribute("aria-invalid", "true");
      note.textContent = text;
      note.hidden = false;
    } else {
      input.removeAttribute("aria-invalid");
      note.textContent = "";
      note.hidden = true;
    }
    resize();
  }
  EXTRA_NAMES.forEach(function (name) {
    var input = extras[name].input;
    if (!input) return;
    input.addEventListener("input", function () {
      if (input.getAttribute("aria-invalid")) fieldError(name, null);
    });
  });
  if (extras.sender_last4.input) {
    // A whole wallet number pasted: keep its last 4 digits (maxlength would keep the first 4).
    extras.sender_last4.input.addEventListener("paste", function (e) {
      var text = e.clipboardData && e.clipboardData.getData("text");
      if (!text) return;
      var digits = asciiDigits(text).replace(/[^0-9]/g, "");
      if (digits.length > 4) {
        e.preventDefault();
        e.currentTarget.value = digits.slice(-4);
        e.currentTarget.dispatchEvent(new Event("input", {bubbles: true}));
      }
    });
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
    var body = {merchant: cfg.merchant, payment_system: code, transaction_number: value, label: cfg.label};
    var faulty = null;
    EXTRA_NAMES.forEach(function (name) {
      var extra = extras[name];
      if (!extra.input) return;
      var v = extra.read(extra.input);
      if (v === null) {
        fieldError(name, msg[extra.message]);
        faulty = faulty || extra.input;
      } else {
        fieldError(name, null);
        body[name] = v;
      }
    });
    if (faulty) { say(""); faulty.focus(); return; }
    stopWaiting();
    submit.disabled = true;
    say(msg.checking, "info");
    if (cfg.order_id) body.order_id = cfg.order_id;
    if (cfg.signature) body.signature = cfg.signature;
    ask("/plugin/api/activate", body)
      .then(function (r) {
        if (r.code === 200 && r.body.status) finish(r.body, body);
        else if (r.code === 400 && fieldFault(r.body)) return;
        else if (r.code === 429) say(msg.too_many, "error");
        else if (r.code === 403 && r.body.error && r.body.error.code === "bad_signature") say(msg.bad_signature, "error");
        else say(msg.error, "error");
      }, function () { say(msg.error, "error"); })
      .then(function () { submit.disabled = false; });
  });
  // A 400 naming one of the policy's fields: that field's own message (in the page's
  // language, not the server's). A field the page lacks means the policy changed since
  // the page loaded. False when the answer names none of them.
  function fieldFault(body) {
    var details = (body && body.error && body.error.details) || [];
    var first = null;
    for (var i = 0; i < details.length; i++) {
      var name = details[i] && details[i].field;
      if (EXTRA_NAMES.indexOf(name) < 0) continue;
      if (!extras[name].input) { say(msg.form_changed, "warn"); return true; }
      fieldError(name, msg[extras[name].message]);
      first = first || extras[name].input;
    }
    if (!first) return false;
    say("");
    first.focus();
    return true;
  }
  if (window.ResizeObserver) new ResizeObserver(resize).observe(document.body);
  window.addEventListener("load", resize);
  resize();
})();
