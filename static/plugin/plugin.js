/* The plugin page's script: choose a payment system, copy the wallet number, send
   the transaction number to /plugin/api/activate, say the outcome in plain words and
   tell the host page (through the loader) what happened. While a delayed activation
   waits for its report ("pending"), ask /plugin/api/pending now and then and say the
   deposit's outcome when it comes. When the merchant's matching policy asks for them
   (the page then has the fields), the last 4 digits of the sender's wallet and the
   amount paid go with both requests. After "not found" or "pending" the visitor may
   appeal ("I paid, but it is not credited", SPEC §12): a form sent as multipart to
   /plugin/api/appeals; the appeals' ids are remembered in localStorage (per merchant
   and label) and their states shown each time the page opens.
   Under a plugin session (SPEC §13) every request names the session instead of the
   label, order id and signature; the page counts the session's time down (from the
   server's clock, not the visitor's) and, when it is over or the server says the
   session has expired, disables both forms and says so. After each answer the focus
   moves to the answer and the next step is said under it. No dependencies. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("bo-settings").textContent);
  var msg = cfg.messages;
  var form = document.getElementById("bo-form");
  var result = document.getElementById("bo-result");
  var number = document.getElementById("bo-number");
  var submit = form.querySelector(".bo-submit");
  var resultNext = document.getElementById("bo-result-next");
  // What to say under each outcome: the visitor's next step.
  var NEXT = {activated: "activated_next", pending: "pending_next", not_found: "not_found_next",
              already_activated: "already_next", expired: "expired_next", rejected: "rejected_next"};
  // The session's end, once reached: "session_expired" or "invalid_session"; null before.
  var ended = null;
  // The policy's extra fields (SPEC §11): present only when the merchant requires them.
  var extras = {
    sender_last4: {input: document.getElementById("bo-sender"), message: "sender_invalid", read: readSender},
    amount: {input: document.getElementById("bo-amount"), message: "amount_invalid", read: readAmount}
  };
  var EXTRA_NAMES = ["sender_last4", "amount"];

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (all, k) { return values && values[k] != null ? values[k] : all; });
  }
  // The answer region: its sentence, and the next step under it (none unless given).
  function say(text, kind, next) {
    result.className = "bo-result" + (kind ? " bo-" + kind : "");
    result.textContent = text;
    resultNext.className = "bo-result-next" + (kind ? " bo-" + kind : "");
    resultNext.textContent = next || "";
    resize();
  }
  // An answer the visitor waited for: said, and the focus moved to it (a screen reader
  // reads it, a keyboard user continues from there to the next step).
  function answer(text, kind, next) {
    say(text, kind, next);
    result.focus();
  }
  // Who the request is for: the session, or the label (with its order id and signature).
  function identify(body) {
    var put = body instanceof FormData ? function (k, v) { body.append(k, v); } : function (k, v) { body[k] = v; };
    if (cfg.session) {
      put("session", cfg.session);
    } else {
      put("label", cfg.label);
      if (cfg.order_id) put("order_id", cfg.order_id);
      if (cfg.signature) put("signature", cfg.signature);
    }
    return body;
  }
  // A 403 saying the session is over: the expired state. True when it was one.
  function sessionOver(r) {
    var code = r && r.code === 403 && r.body && r.body.error && r.body.error.code;
    if (code !== "session_expired" && code !== "invalid_session") return false;
    expire(code);
    return true;
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
    noteError(extras[name].input, text);
  }
  // An input's own error note (the element "<id>-error" under it), or none.
  function noteError(input, text) {
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
  var main = document.getElementById("bo");
  // The content's own height (the document's scrollHeight never drops below the frame's
  // height, so a step that closes, such as the appeal form once sent, would leave a gap).
  function resize() {
    var h = Math.ceil(main.getBoundingClientRect().bottom + (window.pageYOffset || 0));
    if (h !== lastHeight) {
      lastHeight = h;
      // The title names the frame for assistive technology on the shop's page.
      post({type: "backoffice:resize", height: h, title: cfg.title || document.title});
    }
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
      var done = function () { if (!ended) say(msg.copied, "info"); };
      var fallback = function () {
        var t = document.createElement("textarea");
        t.value = text; t.setAttribute("readonly", ""); t.style.position = "fixed"; t.style.opacity = "0";
        document.body.appendChild(t); t.select();
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (err) { ok = false; }
        document.body.removeChild(t);
        if (ok) done(); else if (!ended) say(msg.copy_failed, "warn");
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
        if (sessionOver(r)) return;
        var status = r.code === 200 ? r.body.status : null;
        if (!status || status === "pending") { later(); return; }
        stopWaiting();
        if (status !== "not_found") finish(r.body, request, true);
      }, later);
    }
    later();
  }
  // ``later``: the outcome of a watched activation, come while the visitor may be doing
  // something else: said (the region is live) without taking the focus from elsewhere.
  function finish(body, request, later) {
    var status = body.status;
    var text = fill(msg[status] || msg.error, body), kind = outcomeKind[status] || "error";
    var next = NEXT[status] ? msg[NEXT[status]] : "";
    var focused = document.activeElement;
    if (!later || !focused || focused === document.body || focused === result) answer(text, kind, next);
    else say(text, kind, next);
    // Not found, still awaited, or awaited in vain: the visitor who paid may appeal.
    var appealable = status === "not_found" || status === "pending" || status === "expired";
    offerAppeal(appealable ? request.transaction_number : null);
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
    if (ended) return;
    var code = chosen();
    if (!code) {
      say(msg.choose_first, "warn");
      var first = form.querySelector("input[name=payment_system]");
      if (first) first.focus();
      return;
    }
    var value = number.value.trim();
    if (!value) { number.setAttribute("aria-invalid", "true"); say(msg.empty_number, "warn"); number.focus(); return; }
    number.removeAttribute("aria-invalid");
    var body = identify({merchant: cfg.merchant, payment_system: code, transaction_number: value});
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
    ask("/plugin/api/activate", body)
      .then(function (r) {
        if (ended) return;
        if (r.code === 200 && r.body.status) finish(r.body, body);
        else if (r.code === 400 && fieldFault(r.body)) return;
        else if (sessionOver(r)) return;
        else if (r.code === 429) answer(msg.too_many, "error");
        else if (r.code === 403 && r.body.error && r.body.error.code === "bad_signature") {
          answer(msg.bad_signature, "error");
        }
        else answer(msg.error, "error");
      }, function () { if (!ended) answer(msg.error, "error"); })
      .then(function () { submit.disabled = !!ended; });
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

  // ---- Appeals (SPEC §12) ----
  var appeal = {
    next: document.getElementById("bo-next"),
    open: document.getElementById("bo-appeal-open"),
    form: document.getElementById("bo-appeal"),
    heading: document.getElementById("bo-appeal-h"),
    result: document.getElementById("bo-appeal-result"),
    section: document.getElementById("bo-appeals"),
    list: document.querySelector("#bo-appeals ul"),
    currency: document.getElementById("bo-ap-currency"),
    number: document.getElementById("bo-ap-number"),
    amount: document.getElementById("bo-ap-amount"),
    sender: document.getElementById("bo-ap-sender"),
    paidAt: document.getElementById("bo-ap-paid-at"),
    receipt: document.getElementById("bo-ap-receipt")
  };
  appeal.submit = appeal.form.querySelector(".bo-submit");
  var MAX_RECEIPT = 2 * 1024 * 1024;
  var RECEIPT_TYPES = ["image/png", "image/jpeg"];
  var OLDEST_DAYS = 90, SKEW_MS = 10 * 60 * 1000;
  var ID_RE = /^apl_[A-Za-z0-9_-]{1,36}$/;
  var SHOWN_AT_MOST = 5;
  // The form's fields by the names the API gives in error.details[].field.
  var appealFields = {transaction_number: "number", amount: "amount", sender: "sender", paid_at: "paidAt",
                      receipt: "receipt"};
  var lastNumber = "";

  // The number the answer was about (not_found / pending), or null: hide the next step.
  function offerAppeal(numberAsked) {
    if (numberAsked == null) {
      appeal.next.hidden = true;
      appeal.form.hidden = true;
      appeal.open.setAttribute("aria-expanded", "false");
    } else {
      lastNumber = numberAsked;
      appeal.next.hidden = false;
      if (!appeal.form.hidden) appeal.number.value = numberAsked;
    }
    resize();
  }
  function twoDigits(n) { return (n < 10 ? "0" : "") + n; }
  // A date as a datetime-local input's value (the visitor's local time, to the minute).
  function localValue(date) {
    return date.getFullYear() + "-" + twoDigits(date.getMonth() + 1) + "-" + twoDigits(date.getDate()) + "T" +
      twoDigits(date.getHours()) + ":" + twoDigits(date.getMinutes());
  }
  function chosenCurrency() {
    var r = form.querySelector("input[name=payment_system]:checked");
    return r ? r.getAttribute("data-currency") || "" : "";
  }
  function showCurrency() { appeal.currency.textContent = chosenCurrency(); }
  form.addEventListener("change", function (e) { if (e.target.name === "payment_system") showCurrency(); });
  appeal.open.addEventListener("click", function () {
    if (appeal.form.hidden) {
      appeal.number.value = lastNumber;
      if (cfg.amount && !appeal.amount.value) appeal.amount.value = cfg.amount;  // the session's amount
      var now = new Date();
      appeal.paidAt.value = localValue(now);
      appeal.paidAt.max = localValue(new Date(now.getTime() + SKEW_MS));
      showCurrency();
      appeal.form.hidden = false;
    }
    appeal.open.setAttribute("aria-expanded", "true");
    resize();
    appeal.heading.focus();
  });
  Object.keys(appealFields).forEach(function (name) {
    var input = appeal[appealFields[name]];
    input.addEventListener(input.type === "file" ? "change" : "input", function () {
      if (input.getAttribute("aria-invalid")) noteError(input, null);
    });
  });
  // The receipt picked: checked here first (size, kind), so a large file is never sent.
  function receiptFault(file) {
    if (!file) return null;
    if (file.size > MAX_RECEIPT) return msg.appeal_receipt_too_large;
    if (file.type && RECEIPT_TYPES.indexOf(file.type) < 0) return msg.appeal_receipt_invalid;
    return null;
  }
  appeal.receipt.addEventListener("change", function () {
    var fault = receiptFault(appeal.receipt.files[0]);
    if (fault) noteError(appeal.receipt, fault);
  });
  // Every field read and checked: {data: FormData} or {faulty: the first bad input}.
  function readAppeal(code) {
    var faults = [];
    var number = appeal.number.value.trim();
    var amount = readAmount(appeal.amount);
    var sender = asciiDigits(appeal.sender.value).trim();
    var paidAt = appeal.paidAt.value ? new Date(appeal.paidAt.value) : null;
    var now = Date.now();
    if (paidAt && (isNaN(paidAt.getTime()) || paidAt.getTime() > now + SKEW_MS ||
                   paidAt.getTime() < now - OLDEST_DAYS * 86400000)) paidAt = null;
    var file = appeal.receipt.files && appeal.receipt.files[0];
    var checks = [[appeal.number, number ? null : msg.appeal_number_invalid],
                  [appeal.amount, amount !== null ? null : msg.amount_invalid],
                  [appeal.sender, sender ? null : msg.appeal_sender_invalid],
                  [appeal.paidAt, paidAt ? null : msg.appeal_paid_at_invalid],
                  [appeal.receipt, receiptFault(file)]];
    checks.forEach(function (c) { noteError(c[0], c[1]); if (c[1]) faults.push(c[0]); });
    if (faults.length) return {faulty: faults[0]};
    var data = new FormData();
    data.append("merchant", cfg.merchant);
    data.append("payment_system", code);
    identify(data);
    data.append("transaction_number", number);
    data.append("amount", amount);
    data.append("sender", sender);
    data.append("paid_at", paidAt.toISOString());
    if (file) data.append("receipt", file, file.name || "receipt");
    return {data: data, number: number};
  }
  function sayAppeal(text, kind) {
    appeal.result.className = "bo-result" + (kind ? " bo-" + kind : "");
    appeal.result.textContent = text;
    resize();
  }
  // A 400 naming the form's fields: each field's own message in the page's language;
  // a fault the page could not have seen (the server's rules, such as too many open
  // appeals) in the server's words. False when it names none of the form's fields.
  function appealFieldFaults(body) {
    var details = (body && body.error && body.error.details) || [];
    var own = {amount: msg.amount_invalid, sender: msg.appeal_sender_invalid, paid_at: msg.appeal_paid_at_invalid,
               receipt: msg.appeal_receipt_invalid};
    var first = null;
    for (var i = 0; i < details.length; i++) {
      var name = details[i] && details[i].field;
      if (!appealFields.hasOwnProperty(name)) continue;
      var input = appeal[appealFields[name]];
      var text = own[name] || (appeal.number.value.trim() && details[i].message) || msg.appeal_number_invalid;
      noteError(input, String(text));
      first = first || input;
    }
    if (!first) return false;
    sayAppeal("");
    first.focus();
    return true;
  }
  appeal.form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (ended) return;
    var code = chosen();
    if (!code) { sayAppeal(msg.choose_first, "warn"); return; }
    var read = readAppeal(code);
    if (read.faulty) { sayAppeal(""); read.faulty.focus(); return; }
    appeal.submit.disabled = true;
    sayAppeal(msg.appeal_sending, "info");
    var lang = document.documentElement.lang || "en";
    fetch("/plugin/api/appeals?lang=" + encodeURIComponent(lang),
          {method: "POST", body: read.data, credentials: "omit"})
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) { return {code: r.status, body: j}; });
      })
      .then(function (r) {
        var err = (r.body && r.body.error) || {};
        if (ended || sessionOver(r)) return;
        if ((r.code === 201 || r.code === 200) && r.body.id && ID_RE.test(r.body.id)) {
          filed(r.body, read.number, r.code === 201);
        } else if (r.code === 413) {
          noteError(appeal.receipt, msg.appeal_receipt_too_large); sayAppeal(""); appeal.receipt.focus();
        } else if (r.code === 422) {
          noteError(appeal.receipt, msg.appeal_receipt_invalid); sayAppeal(""); appeal.receipt.focus();
        } else if (r.code === 400 && appealFieldFaults(r.body)) {
          return;
        } else if (r.code === 400) {
          sayAppeal(msg.form_changed, "warn");  // the merchant, payment system or label refused
        } else if (r.code === 409 && err.code === "too_many_open_appeals") {
          sayAppeal(msg.appeal_too_many_open, "warn");
        } else if (r.code === 429) {
          sayAppeal(msg.too_many, "error");
        } else if (r.code === 403 && err.code === "bad_signature") {
          sayAppeal(msg.bad_signature, "error");
        } else {
          sayAppeal(msg.error, "error");
        }
      }, function () { if (!ended) sayAppeal(msg.error, "error"); })
      .then(function () { appeal.submit.disabled = !!ended; });
  });
  // Filed (201) or the same number's open appeal (200): the reference, and what next.
  function filed(body, number, created) {
    appeal.form.hidden = true;
    appeal.form.reset();
    appeal.next.hidden = true;
    appeal.open.setAttribute("aria-expanded", "false");
    appeal.result.className = "bo-result bo-ok";
    appeal.result.textContent = "";
    var first = document.createElement("p");
    first.textContent = created ? msg.appeal_sent : msg.appeal_already;
    var ref = document.createElement("p");
    ref.appendChild(document.createTextNode(msg.appeal_ref + " "));
    var code = document.createElement("strong");
    code.className = "bo-ref";
    code.setAttribute("data-testid", "appeal-ref");
    code.textContent = body.id;
    ref.appendChild(code);
    var next = document.createElement("p");
    next.textContent = msg.appeal_next;
    appeal.result.appendChild(first);
    appeal.result.appendChild(ref);
    appeal.result.appendChild(next);
    remember(body.id, number);
    showAppeal({id: body.id, number: number}, body);
    resize();
    appeal.result.focus();
  }

  // The visitor's appeals, remembered in this browser: [{id, number}], newest first.
  // Under a session the page is not told the label: the key the server gives for it, if any.
  var storeKey = "bo-appeals:" + cfg.merchant + ":" + (cfg.session ? (cfg.label_key || "session") : cfg.label);
  function remembered() {
    var items;
    try { items = JSON.parse(window.localStorage.getItem(storeKey) || "[]"); } catch (err) { return []; }
    if (!Array.isArray(items)) return [];
    return items.filter(function (it) {
      return it && typeof it.id === "string" && ID_RE.test(it.id);
    }).slice(0, SHOWN_AT_MOST);
  }
  function store(items) {
    try { window.localStorage.setItem(storeKey, JSON.stringify(items.slice(0, SHOWN_AT_MOST))); }
    catch (err) { /* storage blocked (private mode, third-party frames): the reference is on screen */ }
  }
  function remember(id, number) {
    var items = remembered().filter(function (it) { return it.id !== id; });
    items.unshift({id: id, number: typeof number === "string" ? number.slice(0, 100) : ""});
    store(items);
  }
  function forget(id) {
    store(remembered().filter(function (it) { return it.id !== id; }));
  }
  var stateKind = {open: "info", matched: "ok", rejected: "error"};
  // One appeal's line in the list (added, or replaced when already there).
  function showAppeal(item, state) {
    var status = stateKind.hasOwnProperty(state.status) ? state.status : "open";
    var li = document.createElement("li");
    li.className = "bo-appeal-item bo-" + stateKind[status];
    li.setAttribute("data-testid", "appeal-" + item.id);
    li.setAttribute("data-status", status);
    var said = document.createElement("span");
    said.className = "bo-appeal-state";
    said.textContent = fill(msg["appeal_state_" + status], {reason: String(state.reason || "")});
    li.appendChild(said);
    if (item.number) {
      var what = document.createElement("span");
      what.className = "bo-appeal-what";
      what.textContent = fill(msg.appeal_item, {number: item.number});
      li.appendChild(what);
    }
    var ref = document.createElement("span");
    ref.className = "bo-appeal-id";
    ref.textContent = item.id;
    li.appendChild(ref);
    var old = null;
    for (var i = 0; i < appeal.list.children.length; i++) {
      if (appeal.list.children[i].getAttribute("data-testid") === "appeal-" + item.id) old = appeal.list.children[i];
    }
    if (old) appeal.list.replaceChild(li, old);
    else appeal.list.insertBefore(li, appeal.list.firstChild);
    appeal.section.hidden = false;
    resize();
  }
  // On load: each remembered appeal's state, in the order they were filed (newest first).
  function loadAppeals() {
    var items = remembered();
    if (!items.length || !window.fetch) return;
    var asks = items.map(function (item) {
      return fetch("/plugin/api/appeals/" + encodeURIComponent(item.id) + "?merchant=" +
                   encodeURIComponent(cfg.merchant), {credentials: "omit", cache: "no-store"})
        .then(function (r) {
          if (r.status === 404) { forget(item.id); return null; }
          return r.ok ? r.json() : null;
        })
        .then(function (state) { return state && state.id === item.id ? state : null; }, function () { return null; });
    });
    Promise.all(asks).then(function (states) {
      for (var i = states.length - 1; i >= 0; i--) if (states[i]) showAppeal(items[i], states[i]);
    });
  }
  loadAppeals();

  // ---- The GIF prompts' play button (prefers-reduced-motion: the still frame first) ----
  var plays = document.querySelectorAll(".bo-play");
  for (var p = 0; p < plays.length; p++) {
    (function (button) {
      var picture = document.querySelector("[data-ps-picture='" + button.getAttribute("data-play") + "']");
      var still = picture && picture.querySelector("source");
      if (!still) { button.hidden = true; return; }
      button.addEventListener("click", function () {
        // Without its <source> the <picture> shows the <img>: the animated GIF.
        if (still.parentNode) {
          picture.removeChild(still);
          button.textContent = msg.stop_animation;
        } else {
          picture.insertBefore(still, picture.firstChild);
          button.textContent = msg.play_animation;
        }
        resize();
      });
    })(plays[p]);
  }

  // ---- The session's countdown and its end ----
  var countdown = document.getElementById("bo-countdown");
  var countdownNote = document.getElementById("bo-countdown-note");
  var ticking = null;
  // An ISO 8601 UTC time (from the server) as milliseconds; NaN when unreadable.
  function isoMs(value) {
    var m = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?(Z|[+-]\d\d:?\d\d)?$/.exec(
      String(value || "").trim());
    if (!m) return NaN;
    var ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0), m[7] ? +(m[7] + "00").slice(0, 3) : 0);
    if (m[8] && m[8] !== "Z") {
      var sign = m[8][0] === "-" ? -1 : 1, zone = m[8].slice(1).replace(":", "");
      ms -= sign * (+zone.slice(0, 2) * 60 + +zone.slice(2)) * 60000;
    }
    return ms;
  }
  // Seconds as m:ss (h:mm:ss from an hour up).
  function clock(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    return (h ? h + ":" + twoDigits(m) : String(m)) + ":" + twoDigits(s);
  }
  function stopCountdown() {
    if (ticking) clearInterval(ticking);
    ticking = null;
  }
  function startCountdown() {
    if (!cfg.session || !countdown) return;
    var left = isoMs(cfg.expires_at) - isoMs(cfg.now);
    if (isNaN(left)) return;
    // Counted on this page's own monotonic clock from the moment it loaded: a visitor
    // whose clock is wrong still sees the server's time left.
    var origin = window.performance && performance.now ? function () { return performance.now(); } : Date.now;
    var start = origin();
    var parts = String(msg.countdown).split("{time}");
    var time = document.createElement("span");
    time.className = "bo-countdown-time";
    time.setAttribute("dir", "ltr");
    countdown.textContent = "";
    countdown.appendChild(document.createTextNode(parts[0]));
    countdown.appendChild(time);
    countdown.appendChild(document.createTextNode(parts.slice(1).join("{time}")));
    var shown = null;
    function tick() {
      var seconds = Math.max(0, Math.ceil((left - (origin() - start)) / 1000));
      if (seconds <= 0) { expire("session_expired"); return; }
      if (seconds !== shown) {
        // Said once when 5 minutes, then 1 minute, remain (not every second).
        [300, 60].forEach(function (mark) {
          if (shown !== null && shown > mark && seconds <= mark) {
            countdownNote.textContent = fill(msg.countdown, {time: clock(seconds)});
          }
        });
        shown = seconds;
        time.textContent = clock(seconds);
      }
    }
    countdown.hidden = false;
    tick();
    if (!ended) ticking = setInterval(tick, 1000);
    document.addEventListener("visibilitychange", function () { if (ticking) tick(); });
  }
  // The session is over: nothing can be sent any more; the message says what to do,
  // and the focus moves to it.
  function expire(code) {
    if (ended) return;
    ended = code === "invalid_session" ? "invalid_session" : "session_expired";
    stopWaiting();
    stopCountdown();
    [form, appeal.form].forEach(function (f) {
      f.setAttribute("data-expired", "");
      for (var i = 0; i < f.elements.length; i++) f.elements[i].disabled = true;
    });
    appeal.open.disabled = true;
    appeal.next.setAttribute("data-expired", "");
    if (countdown) countdown.hidden = true;
    if (countdownNote) countdownNote.textContent = "";
    answer(msg[ended], "error");
  }
  startCountdown();

  if (window.ResizeObserver) new ResizeObserver(resize).observe(document.body);
  window.addEventListener("load", resize);
  resize();
})();
