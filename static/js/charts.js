// Chart controls (templates/charts/_chart.html): full screen, hide all / show all series, and the
// scrolling legend drawn for charts with many series. No inline handlers (the Content-Security-
// Policy forbids them): listeners sit on the document, so charts HTMX swaps in later work too.
// The log-scale button needs nothing here: it is an hx-get that redraws the chart.
(function () {
  "use strict";

  // The Bokeh document drawn into one <figure class="chart">.
  function bokehDocument(fig) {
    var root = fig.querySelector("[data-root-id]");
    if (!root || !window.Bokeh || !Bokeh.documents) return null;
    var id = root.dataset.rootId;
    for (var i = 0; i < Bokeh.documents.length; i++) {
      if (Bokeh.documents[i].get_model_by_id(id)) return Bokeh.documents[i];
    }
    return null;
  }

  // Every renderer of the chart's series, by series number (figures.py names them series-<i>), and
  // the data source of a pie's slices (one renderer named "slices"; a slice is hidden by its alpha).
  function parts(fig) {
    var doc = bokehDocument(fig), out = {series: {}, slices: null};
    if (!doc) return out;
    doc.all_models.forEach(function (m) {
      if (typeof m.name !== "string" || !("visible" in m)) return;
      if (m.name === "slices") { out.slices = m.data_source; return; }
      var match = /^series-(\d+)$/.exec(m.name);
      if (match) (out.series[match[1]] = out.series[match[1]] || []).push(m);
    });
    return out;
  }

  function shown(p, index) {
    if (p.slices) return p.slices.data.alpha[index] > 0;
    return (p.series[index] || []).some(function (r) { return r.visible; });
  }

  // Our own legend shows which series or slices are visible (Bokeh's legend follows by itself).
  function syncLegend(fig, p) {
    fig.querySelectorAll(".legend-item[data-series]").forEach(function (item) {
      item.setAttribute("aria-pressed", shown(p, item.dataset.series) ? "true" : "false");
    });
  }

  function setSlices(src, alpha) {  // a new data object, so BokehJS sees the change and redraws
    var data = Object.assign({}, src.data);
    data.alpha = alpha;
    src.data = data;
  }

  function setAll(fig, visible) {
    var p = parts(fig);
    Object.keys(p.series).forEach(function (k) {
      p.series[k].forEach(function (r) { r.visible = visible; });
    });
    if (p.slices) setSlices(p.slices, p.slices.data.alpha.map(function () { return visible ? 1 : 0; }));
    syncLegend(fig, p);
  }

  function toggleSeries(fig, index) {
    var p = parts(fig), show = !shown(p, index);
    if (p.slices) {
      var alpha = Array.from(p.slices.data.alpha);
      alpha[Number(index)] = show ? 1 : 0;
      setSlices(p.slices, alpha);
    }
    (p.series[index] || []).forEach(function (r) { r.visible = show; });
    syncLegend(fig, p);
  }

  // Full screen: the plot grows to the screen's height, and back to its own height after.
  function mainPlot(fig) {
    var doc = bokehDocument(fig);
    return doc ? doc.get_model_by_name("chart") : null;
  }

  function fitHeight(fig, full) {
    var plot = mainPlot(fig);
    if (!plot) return;
    if (full) {
      if (!fig.dataset.height) fig.dataset.height = String(plot.height);
      plot.height = Math.max(300, window.innerHeight - 160);
    } else if (fig.dataset.height) {
      plot.height = Number(fig.dataset.height);
      delete fig.dataset.height;
    }
  }

  function setPressed(fig, on) {
    var button = fig.querySelector(".chart-fullscreen");
    if (button) {
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.textContent = on ? "Leave full screen" : "Full screen";
    }
  }

  function expand(fig, on) {  // the fallback where the Fullscreen API is refused
    fig.classList.toggle("chart-expanded", on);
    setPressed(fig, on);
    fitHeight(fig, on);
  }

  function toggleFullscreen(fig) {
    if (document.fullscreenElement === fig) { document.exitFullscreen(); return; }
    if (fig.classList.contains("chart-expanded")) { expand(fig, false); return; }
    if (fig.requestFullscreen) {
      fig.requestFullscreen().catch(function () { expand(fig, true); });
    } else {
      expand(fig, true);
    }
  }

  document.addEventListener("fullscreenchange", function () {
    document.querySelectorAll("figure.chart").forEach(function (fig) {
      var on = document.fullscreenElement === fig;
      if (on || fig.dataset.height) { setPressed(fig, on); fitHeight(fig, on); }
    });
  });

  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Escape") return;
    document.querySelectorAll("figure.chart.chart-expanded").forEach(function (fig) { expand(fig, false); });
  });

  document.addEventListener("click", function (ev) {
    var fig = ev.target.closest("figure.chart");
    if (!fig) return;
    if (ev.target.closest(".chart-fullscreen")) toggleFullscreen(fig);
    else if (ev.target.closest(".chart-hide-all")) setAll(fig, false);
    else if (ev.target.closest(".chart-show-all")) setAll(fig, true);
    else {
      var item = ev.target.closest(".legend-item[data-series]");
      if (item) toggleSeries(fig, item.dataset.series);
    }
  });
})();
