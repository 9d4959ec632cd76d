/* Backoffice deposit plugin loader: no dependencies. Reads its own script tag's
   data-* attributes (data-session, or data-label with its signature), asks whether this
   site may show the plugin (/plugin/api/origin): if not, shows the visitor the answer's
   message (as text) in place of the plugin; else inserts the plugin page in an iframe,
   sizes and names it from the page's messages and relays the result as
   window.postMessage and a "backoffice:deposit" CustomEvent. */
(function () {
  "use strict";
  var s = document.currentScript;
  if (!s || s.getAttribute("data-bo-done")) return;
  s.setAttribute("data-bo-done", "1");
  var d = s.dataset, origin = new URL(s.src, location.href).origin;
  var q = new URLSearchParams();
  var map = {merchant: "merchant", session: "session", label: "label", orderId: "order_id",
             paymentSystems: "payment_systems", lang: "lang", signature: "signature", successUrl: "success_url",
             failUrl: "fail_url", pendingUrl: "pending_url"};
  for (var k in map) if (d[k]) q.set(map[k], d[k]);
  q.set("parent", location.origin);
  var f, box;
  function put(el) {
    box = d.container && document.getElementById(d.container);
    if (box) box.appendChild(el);
    else if (s.parentNode) s.parentNode.insertBefore(el, s.nextSibling);
    else document.body.appendChild(el);
  }
  function frame() {
    f = document.createElement("iframe");
    f.src = origin + "/plugin/v1/page?" + q.toString();
    f.title = "Deposit";  // until the page says its title in the visitor's language
    f.setAttribute("allow", "clipboard-write");
    f.style.cssText = "display:block;width:100%;min-width:280px;height:420px;border:0;overflow:hidden";
    put(f);
  }
  // A site the merchant has not allowed: the visitor reads why, instead of a broken frame.
  function refuse(m) {
    var p = document.createElement("div");
    p.setAttribute("role", "alert");
    p.lang = m.lang || "";
    p.dir = m.dir || "auto";
    p.textContent = m.message;
    p.style.cssText = "box-sizing:border-box;max-width:100%;margin:8px 0;padding:12px 16px;border:2px solid " +
      "#b3261e;border-radius:6px;background:#fff;color:#1f1f1f;font:16px/1.5 system-ui,sans-serif";
    put(p);
  }
  var c = new URLSearchParams({merchant: d.merchant || ""});
  if (d.lang) c.set("lang", d.lang);
  // Any failure to ask (network, rate limit, a strict site CSP) leaves it to the frame.
  try {
    fetch(origin + "/plugin/api/origin?" + c, {credentials: "omit"}).then(function (r) { return r.json(); })
      .then(function (m) { if (m && m.allowed === false && typeof m.message === "string") refuse(m); else frame(); },
            frame);
  } catch (x) { frame(); }
  window.addEventListener("message", function (e) {
    if (!f || e.origin !== origin || e.source !== f.contentWindow) return;
    var m = e.data;
    if (!m || typeof m !== "object") return;
    if (m.type === "backoffice:resize") {
      var h = Math.min(Math.max(+m.height || 0, 120), 4000);
      f.style.height = h + "px";
      if (typeof m.title === "string" && m.title) f.title = m.title.slice(0, 100);
    } else if (m.type === "backoffice:deposit") {
      var detail = {status: String(m.status), amount: m.amount || null, currency: m.currency || null,
                    order_id: d.orderId || null};
      window.postMessage({type: "backoffice:deposit", detail: detail}, location.origin);
      (box || document).dispatchEvent(new CustomEvent("backoffice:deposit", {detail: detail, bubbles: true}));
      if (m.redirect && /^https?:\/\//.test(m.redirect)) {
        setTimeout(function () { location.assign(m.redirect); }, 1500);
      } else if (m.close) {
        setTimeout(function () { f.parentNode && f.parentNode.removeChild(f); }, 2500);
      }
    }
  });
})();
