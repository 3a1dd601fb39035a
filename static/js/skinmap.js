// The skin dose map on the fluoroscopy study page (templates/studies/_skin_map.html): the window and
// colour controls shared by the 2D Bokeh image (doseapp/skin/figure.py) and the 3D view, which this
// file draws itself on a 2D canvas (no WebGL needed: hospital PCs and remote desktops often lack it):
// the phantom's cells as quads, back faces culled, far to near, shaded by their slope to the viewer.
// Both views save a PNG with the map's text drawn at the top left. No inline handlers (the page's
// Content-Security-Policy forbids them): HTMX swaps the section in, and "htmx:load" starts it.
(function () {
  "use strict";

  // --- colours: the same mapping as Bokeh's LinearColorMapper (figure.colour_index) ---------------
  function colourIndex(v, low, high, n) {
    if (high <= low) return v >= high ? n - 1 : 0;
    if (v >= high) return n - 1;
    var k = Math.floor((v - low) / (high - low) * n);
    return k < 0 ? 0 : k > n - 1 ? n - 1 : k;
  }
  function rgb(hex) { return [parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16), parseInt(hex.slice(5, 7), 16)]; }
  function fmt(v) { return Number(Number(v).toPrecision(4)).toString(); }

  // --- the Bokeh document of the 2D map ----------------------------------------------------------
  function bokehModel(root, name) {
    var el = root.querySelector("[data-root-id]");
    if (!el || !window.Bokeh || !Bokeh.documents) return null;
    for (var i = 0; i < Bokeh.documents.length; i++) {
      var doc = Bokeh.documents[i];
      if (doc.get_model_by_id(el.dataset.rootId)) return doc.get_model_by_name(name);
    }
    return null;
  }
  function bokehModels(root, name) {
    var el = root.querySelector("[data-root-id]"), out = [];
    if (!el || !window.Bokeh || !Bokeh.documents) return out;
    Bokeh.documents.forEach(function (doc) {
      if (!doc.get_model_by_id(el.dataset.rootId)) return;
      doc.all_models.forEach(function (m) { if (m.name === name) out.push(m); });
    });
    return out;
  }
  function bokehView(root) {
    var el = root.querySelector("[data-root-id]");
    if (!el || !window.Bokeh || !Bokeh.index) return null;
    var views = Bokeh.index instanceof Map ? Array.from(Bokeh.index.values()) : Object.values(Bokeh.index);
    for (var i = 0; i < views.length; i++) if (views[i].model && views[i].model.id === el.dataset.rootId) return views[i];
    return views.length === 1 ? views[0] : null;
  }

  // --- the 3D view --------------------------------------------------------------------------------
  function Viewer(canvas, data, state) {
    this.canvas = canvas; this.data = data; this.state = state;
    var rows = data.rows, cols = data.cols, n = rows * cols, P = data.points, N = data.normals;
    this.n = n;
    // Cell corners: the centre plus and minus half the steps to the neighbouring cells (round the body
    // the grid closes), a little enlarged so neighbours overlap and no cracks show.
    var corners = new Float32Array(n * 12), lo = [1e9, 1e9, 1e9], hi = [-1e9, -1e9, -1e9];
    var cell = data.cell_size_cm || 1, far = 3 * cell;
    function at(i, j, k) { return P[(i * cols + j) * 3 + k]; }
    function step(i1, j1, i2, j2, i, j) {  // (P1 - P2) / 2, one-sided where a neighbour is far away or missing
      var d = [0, 0, 0], ok1 = i1 >= 0 && i1 < rows, ok2 = i2 >= 0 && i2 < rows, len1 = 0, len2 = 0, k;
      var a = [0, 0, 0], b = [0, 0, 0];
      for (k = 0; k < 3; k++) {
        a[k] = ok1 ? at(i1, j1, k) - at(i, j, k) : 0; b[k] = ok2 ? at(i, j, k) - at(i2, j2, k) : 0;
        len1 += a[k] * a[k]; len2 += b[k] * b[k];
      }
      len1 = Math.sqrt(len1); len2 = Math.sqrt(len2);
      var use1 = ok1 && len1 < far, use2 = ok2 && len2 < far;
      for (k = 0; k < 3; k++) d[k] = use1 && use2 ? (a[k] + b[k]) / 2 : use1 ? a[k] : use2 ? b[k] : (k === 0 ? cell : 0);
      return d;
    }
    for (var i = 0; i < rows; i++) {
      for (var j = 0; j < cols; j++) {
        var c = i * cols + j;
        var u = step(i, (j + 1) % cols, i, (j - 1 + cols) % cols, i, j);
        var v = step(i + 1, j, i - 1, j, i, j);
        for (var q = 0; q < 4; q++) {
          var su = (q === 0 || q === 3) ? -0.53 : 0.53, sv = q < 2 ? -0.53 : 0.53;
          for (var k = 0; k < 3; k++) {
            var val = at(i, j, k) + su * u[k] + sv * v[k];
            corners[c * 12 + q * 3 + k] = val;
            if (val < lo[k]) lo[k] = val;
            if (val > hi[k]) hi[k] = val;
          }
        }
      }
    }
    this.corners = corners;
    this.normals = N;
    this.centre = [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2];
    this.extent = Math.max(hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]) || 1;
    this.flatDose = new Float32Array(n);
    for (i = 0; i < rows; i++) for (j = 0; j < cols; j++) this.flatDose[i * cols + j] = data.dose[i][j];
    this.order = new Uint32Array(n); this.depth = new Float32Array(n);
    this.reset();
    this.bind();
  }
  Viewer.prototype.reset = function () {
    // Turn the phantom so its hottest surface faces the viewer.
    var yaw = {posterior: Math.PI, left: -Math.PI / 2, right: Math.PI / 2}[this.data.peak_surface] || 0;
    this.yaw = yaw + 0.35; this.pitch = -0.3; this.zoom = 1;
    this.draw();
  };
  Viewer.prototype.rotation = function () {
    var cy = Math.cos(this.yaw), sy = Math.sin(this.yaw), cp = Math.cos(this.pitch), sp = Math.sin(this.pitch);
    // Turn about the body's long axis (y), then tip about the screen's horizontal axis.
    return [cy, 0, sy, sp * sy, cp, -sp * cy, -cp * sy, sp, cp * cy];
  };
  Viewer.prototype.colours = function () {
    var pal = this.state.palettes[this.state.palette], n = pal.length, out = new Array(this.n);
    var rgbs = pal.map(rgb);
    for (var c = 0; c < this.n; c++) out[c] = rgbs[colourIndex(this.flatDose[c], this.state.low, this.state.high, n)];
    this.cellRgb = out;
  };
  Viewer.prototype.fit = function () {
    var dpr = window.devicePixelRatio || 1, w = Math.round(this.canvas.clientWidth * dpr), h = Math.round(this.canvas.clientHeight * dpr);
    if (w > 0 && h > 0 && (this.canvas.width !== w || this.canvas.height !== h)) { this.canvas.width = w; this.canvas.height = h; }
    return dpr;
  };
  Viewer.prototype.draw = function () {
    if (!this.cellRgb) this.colours();
    var dpr = this.fit(), ctx = this.canvas.getContext("2d"), W = this.canvas.width, H = this.canvas.height;
    var R = this.rotation(), C = this.centre, scale = this.zoom * 0.86 * Math.min(W, H * 1.0) / this.extent;
    var cx = W / 2, cy = H / 2, n = this.n, corners = this.corners, N = this.normals;
    ctx.fillStyle = "#20262e"; ctx.fillRect(0, 0, W, H);
    var count = 0;
    var valid = this.data.valid;
    for (var c = 0; c < n; c++) {
      if (valid && !valid[c]) continue;
      var nz = R[6] * N[c * 3] + R[7] * N[c * 3 + 1] + R[8] * N[c * 3 + 2];
      if (nz <= 0.02) continue;
      var z = 0;
      for (var q = 0; q < 4; q++) {
        var o = c * 12 + q * 3;
        z += R[6] * (corners[o] - C[0]) + R[7] * (corners[o + 1] - C[1]) + R[8] * (corners[o + 2] - C[2]);
      }
      this.depth[c] = z; this.order[count++] = c;
    }
    var depth = this.depth, list = Array.prototype.slice.call(this.order.subarray(0, count));
    list.sort(function (a, b) { return depth[a] - depth[b]; });
    for (var t = 0; t < count; t++) {
      c = list[t];
      var shade = 0.35 + 0.65 * (R[6] * N[c * 3] + R[7] * N[c * 3 + 1] + R[8] * N[c * 3 + 2]);
      var col = this.cellRgb[c];
      ctx.fillStyle = "rgb(" + Math.round(col[0] * shade) + "," + Math.round(col[1] * shade) + "," + Math.round(col[2] * shade) + ")";
      ctx.beginPath();
      for (q = 0; q < 4; q++) {
        o = c * 12 + q * 3;
        var x = corners[o] - C[0], y = corners[o + 1] - C[1], zz = corners[o + 2] - C[2];
        var sx = cx + scale * (R[0] * x + R[1] * y + R[2] * zz), sy = cy + scale * (R[3] * x + R[4] * y + R[5] * zz);
        if (q === 0) ctx.moveTo(sx, sy); else ctx.lineTo(sx, sy);
      }
      ctx.closePath(); ctx.fill();
    }
    this.drawPerson(ctx, R, dpr, H);
    this.drawScale(ctx, dpr, W, H);
  };
  // The small person bottom left, turned as the phantom is: head, body, arms and legs, a nose for the
  // front, and the left hand marked L.
  Viewer.prototype.drawPerson = function (ctx, R, dpr, H) {
    var s = 34 * dpr, ox = 52 * dpr, oy = H - 58 * dpr;
    function p(v) { return [ox + s * (R[0] * v[0] + R[1] * v[1] + R[2] * v[2]), oy + s * (R[3] * v[0] + R[4] * v[1] + R[5] * v[2])]; }
    var segs = [[[0, -0.55, 0], [0, 0.25, 0]], [[-0.4, -0.45, 0], [0.4, -0.45, 0]], [[-0.4, -0.45, 0], [-0.45, 0.1, 0]],
                [[0.4, -0.45, 0], [0.45, 0.1, 0]], [[0, 0.25, 0], [-0.18, 1.0, 0]], [[0, 0.25, 0], [0.18, 1.0, 0]]];
    ctx.save();
    ctx.fillStyle = "rgba(255,255,255,0.08)"; ctx.fillRect(ox - 48 * dpr, oy - 48 * dpr, 96 * dpr, 96 * dpr);
    ctx.strokeStyle = "#e8edf2"; ctx.lineWidth = 2.5 * dpr; ctx.lineCap = "round";
    segs.forEach(function (sg) { var a = p(sg[0]), b = p(sg[1]); ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke(); });
    var head = p([0, -0.75, 0]);
    ctx.beginPath(); ctx.arc(head[0], head[1], 0.17 * s, 0, 2 * Math.PI); ctx.stroke();
    var nose = p([0, -0.75, 0.4]);
    ctx.strokeStyle = "#ffb347"; ctx.beginPath(); ctx.moveTo(head[0], head[1]); ctx.lineTo(nose[0], nose[1]); ctx.stroke();
    ctx.fillStyle = "#e8edf2"; ctx.font = (11 * dpr) + "px system-ui, sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle";
    var lh = p([0.62, 0.18, 0]), hd = p([0, -1.15, 0]), ft = p([0, 1.25, 0]), fr = p([0, -0.6, 1.0]);
    var say = this.state.say;
    ctx.fillText(say("L"), lh[0], lh[1]); ctx.fillText(say("Head"), hd[0], hd[1]); ctx.fillText(say("Feet"), ft[0], ft[1]);
    if (R[8] > -0.2) { ctx.fillStyle = "#ffb347"; ctx.fillText(say("Front"), fr[0], fr[1]); }  // hidden behind the head otherwise
    // Which side of the patient faces the viewer, in words.
    var side = [[R[8], "the front"], [-R[8], "the back"], [R[6], "the left"], [-R[6], "the right"], [-R[7], "the head end"], [R[7], "the feet end"]]
      .sort(function (a, b) { return b[0] - a[0]; })[0][1];
    ctx.fillStyle = "#e8edf2"; ctx.textAlign = "left";
    ctx.fillText(say(side, "Seen from " + side), ox - 44 * dpr, oy - 58 * dpr);
    ctx.restore();
  };
  // The colour scale down the right edge, with the window's ends.
  Viewer.prototype.drawScale = function (ctx, dpr, W, H) {
    var pal = this.state.palettes[this.state.palette], x = W - 26 * dpr, top = 16 * dpr, h = Math.min(260 * dpr, H - 40 * dpr);
    for (var i = 0; i < h; i++) {
      ctx.fillStyle = pal[Math.min(pal.length - 1, Math.floor((1 - i / h) * pal.length))];
      ctx.fillRect(x, top + i, 12 * dpr, 1.5);
    }
    ctx.fillStyle = "#e8edf2"; ctx.font = (11 * dpr) + "px system-ui, sans-serif"; ctx.textAlign = "right"; ctx.textBaseline = "middle";
    ctx.fillText(fmt(this.state.high) + " Gy", x - 4 * dpr, top + 4 * dpr);
    ctx.fillText(fmt(this.state.low) + " Gy", x - 4 * dpr, top + h - 4 * dpr);
  };
  Viewer.prototype.bind = function () {
    var self = this, canvas = this.canvas, pointers = new Map(), pinch = null, pending = false;
    function redraw() { if (pending) return; pending = true; requestAnimationFrame(function () { pending = false; self.draw(); }); }
    this.redraw = redraw;
    canvas.addEventListener("pointerdown", function (e) {
      if (e.pointerType === "mouse" && e.button !== 0) return;
      canvas.setPointerCapture(e.pointerId);
      pointers.set(e.pointerId, [e.clientX, e.clientY]);
      if (pointers.size === 2) { var p = Array.from(pointers.values()); pinch = Math.hypot(p[0][0] - p[1][0], p[0][1] - p[1][1]); }
      e.preventDefault();
    });
    canvas.addEventListener("pointermove", function (e) {
      var last = pointers.get(e.pointerId);
      if (!last) return;
      pointers.set(e.pointerId, [e.clientX, e.clientY]);
      if (pointers.size === 1) {
        self.yaw += (e.clientX - last[0]) * 0.01;
        self.pitch = Math.max(-1.55, Math.min(1.55, self.pitch - (e.clientY - last[1]) * 0.01));
      } else if (pointers.size === 2 && pinch) {
        var p = Array.from(pointers.values()), d = Math.hypot(p[0][0] - p[1][0], p[0][1] - p[1][1]);
        self.zoom = Math.max(0.3, Math.min(8, self.zoom * d / pinch)); pinch = d;
      }
      redraw();
    });
    function up(e) { pointers.delete(e.pointerId); if (pointers.size < 2) pinch = null; }
    canvas.addEventListener("pointerup", up);
    canvas.addEventListener("pointercancel", up);
    canvas.addEventListener("wheel", function (e) {
      e.preventDefault();
      self.zoom = Math.max(0.3, Math.min(8, self.zoom * Math.exp(-e.deltaY * 0.0015)));
      redraw();
    }, {passive: false});
    // From the keyboard too: arrows turn, + and - zoom.
    canvas.addEventListener("keydown", function (e) {
      var turn = {ArrowLeft: [-0.15, 0], ArrowRight: [0.15, 0], ArrowUp: [0, 0.15], ArrowDown: [0, -0.15]}[e.key];
      if (turn) { self.yaw += turn[0]; self.pitch = Math.max(-1.55, Math.min(1.55, self.pitch + turn[1])); }
      else if (e.key === "+" || e.key === "=") self.zoom = Math.min(8, self.zoom * 1.15);
      else if (e.key === "-") self.zoom = Math.max(0.3, self.zoom / 1.15);
      else return;
      e.preventDefault(); redraw();
    });
    if (window.ResizeObserver) new ResizeObserver(redraw).observe(canvas);
  };

  // --- PNG with the map's text at the top left ----------------------------------------------------
  function withText(image, lines, window_) {
    var pad = 12, lh = 18, head = pad * 2 + lh * (lines.length + 1);
    var out = document.createElement("canvas"), ctx = out.getContext("2d"), wide = 0;
    ctx.font = "bold 14px system-ui, sans-serif";
    lines.forEach(function (line) { wide = Math.max(wide, ctx.measureText(line).width); });
    out.width = Math.max(image.width, Math.ceil(wide) + 2 * pad); out.height = image.height + head;
    ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, out.width, out.height);
    ctx.fillStyle = "#1c2733"; ctx.textBaseline = "top";
    lines.forEach(function (line, i) { ctx.font = (i === 0 ? "bold " : "") + "14px system-ui, sans-serif"; ctx.fillText(line, pad, pad + i * lh); });
    ctx.font = "13px system-ui, sans-serif"; ctx.fillStyle = "#5a6675";
    ctx.fillText(window_, pad, pad + lines.length * lh);
    ctx.drawImage(image, 0, head);
    return out;
  }
  function download(canvas, name) {
    var url = canvas.toDataURL("image/png"), a = document.createElement("a");
    a.href = url; a.download = name; document.body.appendChild(a); a.click(); a.remove();
    return url;
  }

  // --- one section --------------------------------------------------------------------------------
  function start(root) {
    if (root.dataset.started) return;
    root.dataset.started = "1";
    var section = root.closest(".skin-map-section") || root;
    var state = {low: Number(root.dataset.low), high: Number(root.dataset.high), palette: root.dataset.palette,
                 palettes: JSON.parse(root.dataset.palettes), first: [Number(root.dataset.low), Number(root.dataset.high)]};
    // The page's words for what this script writes (blueprints/skin_maps.view_words); English without them.
    var words = root.dataset.words ? JSON.parse(root.dataset.words) : {};
    state.say = function (key, english) { return words[key] || english || key; };
    var inputs = {low: root.querySelector(".skin-low"), high: root.querySelector(".skin-high"),
                  level: root.querySelector(".skin-level"), width: root.querySelector(".skin-width")};
    var viewer = null, data = null, lines = Array.from(root.querySelectorAll("#skin-map-text li"), function (li) { return li.textContent; });
    var api = {state: state, viewer: function () { return viewer; }};

    function apply(skip) {
      if (skip !== "inputs") {
        inputs.low.value = fmt(state.low); inputs.high.value = fmt(state.high);
        inputs.level.value = fmt((state.low + state.high) / 2); inputs.width.value = fmt(state.high - state.low);
      }
      var mapper = bokehModel(root, "skin-colour-mapper"), pal = state.palettes[state.palette];
      if (mapper) {
        if (mapper.palette[0] !== pal[0] || mapper.palette[pal.length - 1] !== pal[pal.length - 1]) {
          mapper.palette = pal; mapper.low_color = pal[0]; mapper.high_color = pal[pal.length - 1];
        }
        mapper.low = state.low; mapper.high = state.high;
      }
      if (viewer) { viewer.colours(); viewer.redraw(); }
      root.dataset.window = state.low + ":" + state.high + ":" + state.palette;
    }
    api.setWindow = function (low, high) { state.low = low; state.high = Math.max(high, low); apply(); };
    function fromInputs(which) {
      var low = Number(inputs.low.value), high = Number(inputs.high.value);
      var level = Number(inputs.level.value), width = Math.max(0, Number(inputs.width.value));
      if (which === "level" || which === "width") { low = level - width / 2; high = level + width / 2; }
      if (!isFinite(low) || !isFinite(high)) return;
      state.low = low; state.high = Math.max(low, high);
      apply(which === "low" || which === "high" ? null : null);
    }
    Object.keys(inputs).forEach(function (k) { inputs[k].addEventListener("change", function () { fromInputs(k); }); });
    root.querySelector(".skin-palette").addEventListener("change", function (e) { state.palette = e.target.value; apply(); });
    root.querySelector(".skin-reset").addEventListener("click", function () { state.low = state.first[0]; state.high = state.first[1]; apply(); });
    var overlay = root.querySelector(".skin-overlay");
    if (overlay) overlay.addEventListener("change", function () {
      bokehModels(root, "skin-overlay").forEach(function (m) { m.visible = overlay.checked; });
    });

    // Left-drag on the 2D map: up and down move the level, left and right change the width.
    var plot = root.querySelector(".skin-2d-plot"), drag = null;
    plot.addEventListener("pointerdown", function (e) {
      if (e.pointerType === "mouse" && e.button !== 0) return;
      drag = {x: e.clientX, y: e.clientY, level: (state.low + state.high) / 2, width: state.high - state.low,
              per: Math.max(state.first[1] - state.first[0], 1e-6) / 300};
      plot.setPointerCapture(e.pointerId); e.preventDefault();
    });
    plot.addEventListener("pointermove", function (e) {
      if (!drag) return;
      var level = drag.level - (e.clientY - drag.y) * drag.per, width = Math.max(0, drag.width + (e.clientX - drag.x) * drag.per);
      state.low = level - width / 2; state.high = level + width / 2; apply();
    });
    function end() { drag = null; }
    plot.addEventListener("pointerup", end); plot.addEventListener("pointercancel", end);

    function windowText() {
      var sel = root.querySelector(".skin-palette"), name = sel.options[sel.selectedIndex] ? sel.options[sel.selectedIndex].text : state.palette;
      return state.say("colours", "Colours: {palette}, from {low} Gy to {high} Gy")
        .replace("{palette}", name).replace("{low}", fmt(state.low)).replace("{high}", fmt(state.high));
    }
    // Where a point of the map (x round the body, y from the head, in cm) is on the page.
    api.clientPoint = function (x, y) {
      var view = bokehView(root), r = view.el.getBoundingClientRect();
      return [r.left + view.frame.x_scale.compute(x), r.top + view.frame.y_scale.compute(y)];
    };
    api.png = function (which) {
      var image;
      if (which === "3d") { if (!viewer) return null; viewer.draw(); image = viewer.canvas; }
      else { var view = bokehView(root); if (!view) return null; image = view.export("png").canvas; }
      return withText(image, lines, windowText());
    };
    root.querySelectorAll(".skin-save").forEach(function (b) {
      b.addEventListener("click", function () {
        var c = api.png(b.dataset.view);
        if (c) api.lastSaved = download(c, "skin-dose-map-" + b.dataset.view + ".png");
      });
    });
    root.querySelector(".skin-3d-reset").addEventListener("click", function () { if (viewer) viewer.reset(); });
    var full = root.querySelector(".skin-fullscreen");
    full.addEventListener("click", function () {
      var on = !section.classList.contains("skin-full");
      section.classList.toggle("skin-full", on);
      full.setAttribute("aria-pressed", on ? "true" : "false");
      full.textContent = on ? state.say("Leave full screen") : state.say("Full screen");
      if (on && section.requestFullscreen) section.requestFullscreen().catch(function () {});
      if (!on && document.fullscreenElement) document.exitFullscreen().catch(function () {});
      if (viewer) viewer.redraw();
    });
    document.addEventListener("fullscreenchange", function () {
      if (!document.fullscreenElement && section.classList.contains("skin-full")) full.click();
    });
    document.addEventListener("keydown", function (e) { if (e.key === "Escape" && section.classList.contains("skin-full") && !document.fullscreenElement) full.click(); });

    var canvas = root.querySelector(".skin-3d-canvas");
    fetch(root.dataset.jsonUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (d) {
        data = d;
        if (!d.points) { canvas.replaceWith(Object.assign(document.createElement("p"), {className: "hint", textContent: state.say("no3d", "No 3D view: the phantom of this map cannot be rebuilt.")})); return; }
        viewer = new Viewer(canvas, d, state);
        root.dataset.ready3d = "1";
      })
      .catch(function (err) { root.dataset.error3d = String(err); });
    // BokehJS draws after its script has run: apply the window once its models exist.
    var tries = 0;
    (function wait() {
      if (bokehModel(root, "skin-colour-mapper")) { apply(); root.dataset.ready2d = "1"; return; }
      if (tries++ < 200) setTimeout(wait, 50);
    })();
    root.skinMap = api;
  }

  function scan(el) {
    (el.matches && el.matches(".skin-map") ? [el] : Array.from((el.querySelectorAll ? el : document).querySelectorAll(".skin-map"))).forEach(start);
  }
  document.addEventListener("htmx:load", function (e) { scan(e.target); });
  document.addEventListener("DOMContentLoaded", function () { scan(document); });
})();
