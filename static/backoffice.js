/* The back office's behaviour, from a file: the Content-Security-Policy allows no inline
   script, event handler or style attribute (issue 17). Templates mark elements with
   data-* attributes; this file gives them their behaviour. */
(function () {
  "use strict";

  // A submit button that asks first: <button data-confirm="Question?">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // Flask-Admin's placeholder links (href="javascript:void(0)": the current tab, the
  // current page, column notes, menu toggles) go nowhere; the CSP would refuse the
  // javascript: URL. Caught while capturing: menus stop the click's propagation.
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[href]");
    if (link && /^\s*javascript:/i.test(link.getAttribute("href"))) event.preventDefault();
  }, true);

  // Flask-Admin's "With selected" menu: <a data-action-name="mark_fraud">.
  document.addEventListener("click", function (event) {
    var item = event.target.closest("[data-action-name]");
    if (!item) return;
    event.preventDefault();
    if (window.modelActions) window.modelActions.execute(item.getAttribute("data-action-name"));
  });

  // Flask-Admin's "Add filter" items: its filters.js adds the filter; the link goes nowhere.
  document.addEventListener("click", function (event) {
    if (event.target.closest(".field-filters a.filter")) event.preventDefault();
  }, true);

  // issue 22 point 2: a list's filters' row sends only the fields people filled in (an
  // empty field is no filter; the server ignores one anyway).
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-basic-filters]");
    if (!form) return;
    form.querySelectorAll("[data-filter]").forEach(function (field) {
      if (!String(field.value || "").trim()) field.disabled = true;
    });
  }, true);
  window.addEventListener("pageshow", function () {  // back to the page: its fields usable again
    document.querySelectorAll("form[data-basic-filters] [data-filter]").forEach(function (field) {
      field.disabled = false;
    });
  });

  // Settings → Plugin appearance: GIF prompts dropped into a modal, with a preview.
  function preview(zone, file) {
    var img = zone.querySelector(".plugin-preview");
    if (!file || file.type !== "image/gif") { img.hidden = true; return; }
    var reader = new FileReader();
    reader.onload = function () { img.src = reader.result; img.hidden = false; };
    reader.readAsDataURL(file);
  }
  document.querySelectorAll("[data-dropzone]").forEach(function (zone) {
    var input = zone.parentNode.querySelector("input[type=file]");
    input.addEventListener("change", function () { preview(zone, input.files[0]); });
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("bg-light"); });
    });
    zone.addEventListener("dragleave", function () { zone.classList.remove("bg-light"); });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      zone.classList.remove("bg-light");
      if (e.dataTransfer && e.dataTransfer.files.length) {
        input.files = e.dataTransfer.files;
        preview(zone, input.files[0]);
      }
    });
  });

  // Settings → Plugin installation: the Copy button (its messages come translated in
  // data-copied and data-copy-fallback).
  var copy = document.getElementById("plugin-copy");
  if (copy) {
    var status = document.getElementById("plugin-copy-status");
    copy.addEventListener("click", function () {
      var snippet = document.getElementById("plugin-snippet");
      var done = function () { status.textContent = copy.getAttribute("data-copied"); };
      var fallback = function () {
        var range = document.createRange();
        range.selectNodeContents(snippet);
        var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
        status.textContent = copy.getAttribute("data-copy-fallback");
      };
      if (navigator.clipboard) navigator.clipboard.writeText(snippet.textContent).then(done, fallback); else fallback();
    });
  }

  // Copy buttons beside a value (the approve page): <button data-copy="text"
  // data-copy-target="id of the value" data-copied="…" data-copy-fallback="…">, its
  // status in the next .bo-copy-status. Without a clipboard the value is selected.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var status = button.nextElementSibling;
    var say = function (text) {
      if (status && status.classList.contains("bo-copy-status")) status.textContent = text;
    };
    var fallback = function () {
      var target = document.getElementById(button.getAttribute("data-copy-target"));
      if (target) {
        var range = document.createRange();
        range.selectNodeContents(target);
        var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
      }
      say(button.getAttribute("data-copy-fallback"));
    };
    var text = button.getAttribute("data-copy");
    if (navigator.clipboard) {
      navigator.clipboard.writeText(text).then(function () { say(button.getAttribute("data-copied")); }, fallback);
    } else {
      fallback();
    }
  });
})();
