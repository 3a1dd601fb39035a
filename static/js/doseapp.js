// Page behaviour that would otherwise be inline handlers (onclick=, onsubmit=), which the
// Content-Security-Policy forbids. Listeners sit on the document, so rows and forms that HTMX
// swaps in later behave the same.
(function () {
  "use strict";

  // A form, or the button that submits it, with data-confirm asks first (e.g. deleting a DICOM node).
  document.addEventListener("submit", function (ev) {
    var asker = ev.submitter && ev.submitter.dataset.confirm ? ev.submitter : ev.target.closest("form[data-confirm]");
    if (asker && !window.confirm(asker.dataset.confirm)) ev.preventDefault();
  });

  document.addEventListener("click", function (ev) {
    // A click anywhere in a clickable table row opens the row's first link.
    var row = ev.target.closest("tr.clickable");
    if (row && !ev.target.closest("a, button, input, select, label")) {
      var link = row.querySelector("a[href]");
      if (link) window.location.href = link.href;
    }
  });

  // Drop-down menus of the top bar are <details>: they open and close by mouse or keyboard without
  // script; this only closes an open one when the user clicks elsewhere or presses Escape.
  document.addEventListener("click", function (ev) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(ev.target)) menu.open = false;
    });
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Escape") return;
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      menu.open = false;
      if (menu.contains(document.activeElement)) menu.querySelector("summary").focus();
    });
  });

  document.addEventListener("change", function (ev) {
    // A "select all" box ticks or unticks every box of the class named in data-select-all.
    var all = ev.target.closest("input[data-select-all]");
    if (!all) return;
    document.querySelectorAll("input." + all.dataset.selectAll).forEach(function (box) {
      box.checked = all.checked;
    });
  });

  // Auto-refresh switch (templates/dicomnet/_autorefresh.html): the page's polling parts
  // ([data-autorefresh]) ask for nothing while it is off; the choice is kept per user in this
  // browser, and switching it on refreshes at once.
  var refreshBox = document.querySelector("input[data-autorefresh-key]");
  if (refreshBox) {
    var saved = window.localStorage.getItem(refreshBox.dataset.autorefreshKey);
    if (saved !== null) refreshBox.checked = saved === "on";
  }
  document.addEventListener("change", function (ev) {
    var box = ev.target.closest("input[data-autorefresh-key]");
    if (!box) return;
    window.localStorage.setItem(box.dataset.autorefreshKey, box.checked ? "on" : "off");
    if (box.checked) {
      document.querySelectorAll("[data-autorefresh]").forEach(function (el) { htmx.trigger(el, "refresh-now"); });
    }
  });
  document.addEventListener("htmx:beforeRequest", function (ev) {
    var box = document.querySelector("input[data-autorefresh-key]");
    if (box && !box.checked && ev.detail.elt.closest("[data-autorefresh]")) ev.preventDefault();
  });

  // A transaction-log row (templates/dicomnet/_tx_table.html) opens and closes its details row when
  // clicked, or with its Details button from the keyboard.
  document.addEventListener("click", function (ev) {
    var row = ev.target.closest("tr.tx-row");
    if (!row || (ev.target.closest("a, input, select") )) return;
    var details = document.getElementById(row.dataset.details);
    var button = row.querySelector("button.tx-toggle");
    details.hidden = !details.hidden;
    button.setAttribute("aria-expanded", details.hidden ? "false" : "true");
  });
})();
