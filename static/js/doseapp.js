// Page behaviour that would otherwise be inline handlers (onclick=, onsubmit=), which the
// Content-Security-Policy forbids. Listeners sit on the document, so rows and forms that HTMX
// swaps in later behave the same.
(function () {
  "use strict";

  // A form with data-confirm asks first (e.g. deleting a DICOM node).
  document.addEventListener("submit", function (ev) {
    var form = ev.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) ev.preventDefault();
  });

  document.addEventListener("click", function (ev) {
    // A click anywhere in a clickable table row opens the row's first link.
    var row = ev.target.closest("tr.clickable");
    if (row && !ev.target.closest("a, button, input, select, label")) {
      var link = row.querySelector("a[href]");
      if (link) window.location.href = link.href;
    }
  });

  document.addEventListener("change", function (ev) {
    // A "select all" box ticks or unticks every box of the class named in data-select-all.
    var all = ev.target.closest("input[data-select-all]");
    if (!all) return;
    document.querySelectorAll("input." + all.dataset.selectAll).forEach(function (box) {
      box.checked = all.checked;
    });
  });
})();
