/* The date pickers in the viewer's language (issue 22, point 5; backoffice/admin_views/datepicker.py).
 *
 * Flask-Admin's date filters and date fields are bootstrap-daterangepicker 1.3 over
 * moment 2.9, both English only. This script's tag carries the viewer's words
 * (its data-* attributes): moment learns the language, so the pickers' month and day names and
 * the first day of the week come in it, and every picker gets the words of its buttons
 * and range inputs ("Apply", "Cancel", "From", "To"). It is loaded after moment and
 * jQuery and before daterangepicker.js: the picker is wrapped the moment it is defined,
 * so the filters' pickers (made as soon as their script runs) get the words too. */
(function () {
  "use strict";
  var script = document.currentScript;
  var $ = window.jQuery;
  if (!script || !script.hasAttribute("data-months") || !window.moment || !$) {
    return;
  }
  var data = script.dataset;
  var list = function (value) { return value.split("|"); };
  var labels = {applyLabel: data.apply, cancelLabel: data.cancel, fromLabel: data.from, toLabel: data.to};
  // moment 2.9: locale(name, values) defines the language and makes it the current one.
  window.moment.locale(data.code, {
    months: list(data.months),
    monthsShort: list(data.monthsShort),
    weekdays: list(data.weekdays),
    weekdaysShort: list(data.weekdaysShort),
    weekdaysMin: list(data.weekdaysMin),
    week: {dow: parseInt(data.firstDay, 10), doy: 4}
  });

  function localised(picker) {
    if (typeof picker !== "function" || picker.boLocalised) {
      return picker;
    }
    var wrapped = function (options, callback) {
      var merged = $.extend(true, {locale: $.extend({}, labels)}, options || {});
      return picker.call(this, merged, callback);
    };
    wrapped.boLocalised = true;
    return wrapped;
  }

  var current = localised($.fn.daterangepicker);
  Object.defineProperty($.fn, "daterangepicker", {
    configurable: true,
    enumerable: true,
    get: function () { return current; },
    set: function (picker) { current = localised(picker); }
  });
}());
