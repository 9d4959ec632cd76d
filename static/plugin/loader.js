/* Backoffice deposit plugin loader: no dependencies. Reads its own script tag's
   data-* attributes (data-session, or data-label with its signature), inserts the
   plugin page in an iframe, sizes and names it from the page's messages and relays the
   result as window.postMessage and a "backoffice:deposit" CustomEvent. */
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
  var f = document.createElement("iframe");
  f.src = origin + "/plugin/v1/page?" + q.toString();
  f.title = "Deposit";  // until the page says its title in the visitor's language
  f.setAttribute("allow", "clipboard-write");
  f.style.cssText = "display:block;width:100%;min-width:280px;height:420px;border:0;overflow:hidden";
  var box = d.container && document.getElementById(d.container);
  if (box) box.appendChild(f); else s.parentNode.insertBefore(f, s.nextSibling);
  window.addEventListener("message", function (e) {
    if (e.origin !== origin || e.source !== f.contentWindow) return;
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
