/* The compare view. The page works without this script (two plain pictures); with it, the same
   <img> elements become one viewer: a divider or two panes, zoom and pan, a background for
   transparency, and an amplified difference drawn on a canvas.

   One state (the scale, and the image point at the centre of the view) is applied identically to
   every picture, so the original, the compressed image and the difference always line up pixel for
   pixel, whatever the mode. No dependencies: the CSP allows only our own scripts. */
(function () {
  "use strict";

  // Zoom buttons step through these, so a few presses from "fit" land exactly on 1:1.
  var STOPS = [0.05, 0.1, 0.125, 0.167, 0.25, 0.333, 0.5, 0.667, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32];
  var MAX_SCALE = 32;

  function clamp(value, low, high) {
    return Math.max(low, Math.min(high, value));
  }

  function loaded(img) {
    if (img.complete && img.naturalWidth) return Promise.resolve(img);
    return new Promise(function (resolve, reject) {
      img.addEventListener("load", function () { resolve(img); }, { once: true });
      img.addEventListener("error", function () { reject(new Error("the picture " + JSON.stringify(img.alt) + " did not load")); }, { once: true });
    });
  }

  function percent(scale) {
    var pct = scale * 100;
    return (pct < 10 ? pct.toFixed(1) : String(Math.round(pct))) + " %";
  }

  function setup(root) {
    var stage = root.querySelector(".compare-stage");
    var original = root.querySelector(".pane-original img");
    var compressed = root.querySelector(".pane-compressed img");
    if (!stage || !original || !compressed) return;
    var W = parseInt(root.dataset.width, 10) || original.naturalWidth || 1;
    var H = parseInt(root.dataset.height, 10) || original.naturalHeight || 1;
    var firstPane = original.closest(".compare-pane");
    var zoomLabel = root.querySelector(".compare-zoom");
    var note = root.querySelector(".compare-diff-note");
    var gain = root.querySelector(".compare-gain");
    var amplify = root.querySelector(".compare-amplify");

    var diffPane = document.createElement("figure");
    diffPane.className = "compare-pane pane-diff";
    var canvas = document.createElement("canvas");
    canvas.width = W;
    canvas.height = H;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", "Amplified difference between the original and the compressed image");
    var diffLabel = document.createElement("figcaption");
    diffLabel.className = "compare-label";
    diffPane.appendChild(canvas);
    diffPane.appendChild(diffLabel);
    stage.appendChild(diffPane);

    var divider = document.createElement("div");
    divider.className = "compare-divider";
    divider.tabIndex = 0;
    divider.setAttribute("role", "slider");
    divider.setAttribute("aria-label", "Divider: original on the left, compressed on the right");
    divider.setAttribute("aria-valuemin", "0");
    divider.setAttribute("aria-valuemax", "100");
    stage.appendChild(divider);

    stage.tabIndex = 0;
    stage.setAttribute("role", "group");
    stage.setAttribute("aria-label", "Image viewer: drag or arrow keys to pan; wheel, pinch, + and − to zoom; 0 fits, 1 shows 1:1");

    var state = { scale: 1, cx: W / 2, cy: H / 2, fit: true, mode: "split", pos: 50 };
    var drawn = [original, compressed, canvas];

    // Every visible pane has the same size in every mode, so the first visible one stands for all.
    function paneBox() {
      var pane = state.mode === "diff" ? diffPane : firstPane;
      return { w: pane.clientWidth, h: pane.clientHeight };
    }

    function fitScale(box) {
      return Math.min(box.w / W, box.h / H);
    }

    function minScale(box) {
      return Math.min(fitScale(box), 1) / 2;
    }

    // A tiny image fits at more than MAX_SCALE; zooming in from there must not shrink it.
    function maxScale(box) {
      return Math.max(MAX_SCALE, fitScale(box));
    }

    function render() {
      var box = paneBox();
      if (!box.w || !box.h) return;  // not laid out (yet): nothing to place
      if (state.fit) {
        state.scale = fitScale(box);
        state.cx = W / 2;
        state.cy = H / 2;
      }
      state.cx = clamp(state.cx, 0, W);
      state.cy = clamp(state.cy, 0, H);
      var s = state.scale;
      // Whole device pixels: at 1:1 each image pixel then covers exactly one screen pixel.
      var dpr = window.devicePixelRatio || 1;
      var x = Math.round((box.w / 2 - state.cx * s) * dpr) / dpr;
      var y = Math.round((box.h / 2 - state.cy * s) * dpr) / dpr;
      var width = W * s + "px", height = H * s + "px", transform = "translate(" + x + "px, " + y + "px)";
      drawn.forEach(function (el) {
        el.style.width = width;
        el.style.height = height;
        el.style.transform = transform;
      });
      root.classList.toggle("is-pixelated", s >= 0.999);
      zoomLabel.textContent = percent(s);
      stage.style.setProperty("--pos", state.pos + "%");
      divider.setAttribute("aria-valuenow", String(Math.round(state.pos)));
      divider.setAttribute("aria-valuetext", Math.round(state.pos) + " % original");
    }

    // (px, py): the point that stays put, in pane coordinates; the pane's centre by default.
    function zoomTo(scale, px, py) {
      var box = paneBox();
      if (!box.w || !box.h) return;
      if (px === undefined) {
        px = box.w / 2;
        py = box.h / 2;
      }
      var s0 = state.scale, s1 = clamp(scale, minScale(box), maxScale(box));
      var u = (px - (box.w / 2 - state.cx * s0)) / s0;
      var v = (py - (box.h / 2 - state.cy * s0)) / s0;
      state.cx = (box.w / 2 - px) / s1 + u;
      state.cy = (box.h / 2 - py) / s1 + v;
      state.scale = s1;
      state.fit = false;
      render();
    }

    function stepZoom(direction) {
      var s = state.scale, next;
      if (direction > 0) {
        next = STOPS.filter(function (z) { return z > s * 1.001; })[0] || maxScale(paneBox());
      } else {
        next = STOPS.filter(function (z) { return z < s / 1.001; }).pop() || 0;
      }
      zoomTo(next);
    }

    function fit() {
      state.fit = true;
      render();
    }

    function panBy(dx, dy) {
      state.cx -= dx / state.scale;
      state.cy -= dy / state.scale;
      state.fit = false;
      render();
    }

    // --- the difference: |original - compressed| per channel, computed once, amplified on demand
    var difference = null;  // {data: Uint8ClampedArray (RGBA, unamplified), largest, mean}

    function pixelsOf(img) {
      var scratch = document.createElement("canvas");
      scratch.width = W;
      scratch.height = H;
      var context = scratch.getContext("2d", { willReadFrequently: true });
      context.drawImage(img, 0, 0, W, H);
      return context.getImageData(0, 0, W, H).data;
    }

    // The server's difference picture (vault/difference.py): exact where a canvas is not, since a
    // canvas premultiplies alpha with each decoder's own rounding. Opaque, so it reads back as sent.
    function measureDifference(img) {
      var d = pixelsOf(img), data = new Uint8ClampedArray(d.length), largest = 0, total = 0;
      for (var i = 0; i < d.length; i += 4) {
        data[i] = d[i];
        data[i + 1] = d[i + 1];
        data[i + 2] = d[i + 2];
        data[i + 3] = 255;
        largest = Math.max(largest, d[i], d[i + 1], d[i + 2]);
        total += d[i] + d[i + 1] + d[i + 2];
      }
      return { data: data, largest: largest, mean: total / (d.length / 4 * 3) };
    }

    function serverDifference(src) {
      return new Promise(function (resolve, reject) {
        var img = new Image();
        img.onload = function () { resolve(measureDifference(img)); };
        img.onerror = function () { reject(new Error("the server did not send it")); };
        img.src = src;
      });
    }

    function computeDifference() {
      var a = pixelsOf(original), b = pixelsOf(compressed);
      var data = new Uint8ClampedArray(a.length), largest = 0, total = 0;
      for (var i = 0; i < a.length; i += 4) {
        // A change of opacity is a difference too: it shows in every channel.
        var da = Math.abs(a[i + 3] - b[i + 3]);
        var dr = Math.max(Math.abs(a[i] - b[i]), da);
        var dg = Math.max(Math.abs(a[i + 1] - b[i + 1]), da);
        var db = Math.max(Math.abs(a[i + 2] - b[i + 2]), da);
        data[i] = dr;
        data[i + 1] = dg;
        data[i + 2] = db;
        data[i + 3] = 255;
        var m = Math.max(dr, dg, db);
        if (m > largest) largest = m;
        total += dr + dg + db;
      }
      return { data: data, largest: largest, mean: total / (a.length / 4 * 3) };
    }

    function drawDifference() {
      var k = parseInt(gain.value, 10) || 1;
      var context = canvas.getContext("2d");
      var out = context.createImageData(W, H);
      var d = difference.data, o = out.data;
      for (var i = 0; i < d.length; i += 4) {
        o[i] = d[i] * k;  // Uint8ClampedArray: saturates at 255
        o[i + 1] = d[i + 1] * k;
        o[i + 2] = d[i + 2] * k;
        o[i + 3] = 255;
      }
      context.putImageData(out, 0, 0);
      diffLabel.textContent = "|original − compressed| × " + k;
      note.textContent = "Difference amplified × " + k + ": black is identical. Largest difference " + difference.largest +
        " of 255, mean " + difference.mean.toFixed(2) + ".";
    }

    function showDifference() {
      if (difference) {
        drawDifference();
        return;
      }
      note.textContent = "Computing the difference…";
      var made = root.dataset.differenceSrc ? serverDifference(root.dataset.differenceSrc)
        : Promise.all([loaded(original), loaded(compressed)]).then(computeDifference);
      made.then(function (result) {
        difference = result;
        drawDifference();
      }).catch(function (error) {
        note.textContent = "The difference could not be computed: " + error.message + ".";
      });
    }

    // --- controls
    function setMode(mode) {
      state.mode = mode;
      root.dataset.mode = mode;
      root.querySelectorAll("button[data-mode]").forEach(function (button) {
        button.setAttribute("aria-pressed", String(button.dataset.mode === mode));
      });
      amplify.hidden = mode !== "diff";
      note.hidden = mode !== "diff";
      if (mode === "diff") showDifference();
      render();
    }

    function setBackground(name) {
      stage.classList.remove("bg-checker", "bg-black", "bg-white");
      stage.classList.add("bg-" + name);
      root.querySelectorAll("button[data-background]").forEach(function (button) {
        button.setAttribute("aria-pressed", String(button.dataset.background === name));
      });
    }

    root.querySelectorAll("button[data-mode]").forEach(function (button) {
      button.addEventListener("click", function () { setMode(button.dataset.mode); });
    });
    root.querySelectorAll("button[data-background]").forEach(function (button) {
      button.addEventListener("click", function () { setBackground(button.dataset.background); });
    });
    root.querySelectorAll("button[data-zoom]").forEach(function (button) {
      button.addEventListener("click", function () {
        var what = button.dataset.zoom;
        if (what === "in") stepZoom(1);
        else if (what === "out") stepZoom(-1);
        else if (what === "fit") fit();
        else zoomTo(1);
      });
    });
    gain.addEventListener("change", function () { if (difference) drawDifference(); });

    // --- pointers: one drags the picture, two pinch-zoom around their midpoint
    var pointers = new Map(), last = null, paneRect = null;

    function measure() {
      var points = Array.from(pointers.values());
      if (points.length < 2) return { x: points[0].x, y: points[0].y, d: 0 };
      return {
        x: (points[0].x + points[1].x) / 2,
        y: (points[0].y + points[1].y) / 2,
        d: Math.hypot(points[0].x - points[1].x, points[0].y - points[1].y),
      };
    }

    function paneUnder(target) {
      return (target.closest && target.closest(".compare-pane")) || (state.mode === "diff" ? diffPane : firstPane);
    }

    function capture(element, event) {
      // Keeps a drag going outside the box; a pointer the browser no longer tracks cannot be captured.
      try { element.setPointerCapture(event.pointerId); } catch (e) { /* the drag still works inside the box */ }
    }

    stage.addEventListener("pointerdown", function (event) {
      if (event.target === divider || event.button > 0) return;
      capture(stage, event);
      pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
      if (pointers.size === 1) paneRect = paneUnder(event.target).getBoundingClientRect();
      last = measure();
      stage.classList.add("is-dragging");
    });
    stage.addEventListener("pointermove", function (event) {
      if (!pointers.has(event.pointerId)) return;
      pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
      var now = measure();
      if (pointers.size >= 2 && last.d > 0 && now.d > 0) {
        zoomTo(state.scale * now.d / last.d, now.x - paneRect.left, now.y - paneRect.top);
      }
      panBy(now.x - last.x, now.y - last.y);
      last = now;
    });
    function release(event) {
      pointers.delete(event.pointerId);
      last = pointers.size ? measure() : null;
      if (!pointers.size) stage.classList.remove("is-dragging");
    }
    stage.addEventListener("pointerup", release);
    stage.addEventListener("pointercancel", release);

    stage.addEventListener("wheel", function (event) {
      event.preventDefault();  // the wheel zooms the picture, not the page
      var rect = paneUnder(event.target).getBoundingClientRect();
      var lines = event.deltaMode === 1 ? 16 : event.deltaMode === 2 ? 400 : 1;
      zoomTo(state.scale * Math.exp(-event.deltaY * lines * 0.002), event.clientX - rect.left, event.clientY - rect.top);
    }, { passive: false });

    // --- the divider: dragged, or moved with the arrow keys once it has focus
    var movingDivider = false;
    function dividerTo(event) {
      var rect = stage.getBoundingClientRect();
      state.pos = clamp((event.clientX - rect.left - stage.clientLeft) / stage.clientWidth * 100, 0, 100);
      render();
    }
    divider.addEventListener("pointerdown", function (event) {
      event.stopPropagation();
      movingDivider = true;
      capture(divider, event);
      dividerTo(event);
    });
    divider.addEventListener("pointermove", function (event) { if (movingDivider) dividerTo(event); });
    divider.addEventListener("pointerup", function () { movingDivider = false; });
    divider.addEventListener("pointercancel", function () { movingDivider = false; });
    divider.addEventListener("keydown", function (event) {
      var step = event.shiftKey ? 10 : 2;
      var moves = { ArrowLeft: -step, ArrowDown: -step, ArrowRight: step, ArrowUp: step, Home: -100, End: 100 };
      if (!(event.key in moves)) return;
      event.preventDefault();
      event.stopPropagation();  // arrows here move the divider, not the picture
      state.pos = clamp(state.pos + moves[event.key], 0, 100);
      render();
    });

    // --- keyboard anywhere in the viewer or its toolbar
    root.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.target.closest("select, input, textarea")) return;
      var box = paneBox(), step = (event.shiftKey ? 0.5 : 0.1) * Math.min(box.w, box.h);
      var keys = {
        "+": function () { stepZoom(1); }, "=": function () { stepZoom(1); },
        "-": function () { stepZoom(-1); }, "_": function () { stepZoom(-1); },
        "0": fit, "1": function () { zoomTo(1); },
        // An arrow looks that way: the picture moves the other.
        ArrowLeft: function () { panBy(step, 0); }, ArrowRight: function () { panBy(-step, 0); },
        ArrowUp: function () { panBy(0, step); }, ArrowDown: function () { panBy(0, -step); },
      };
      if (!keys[event.key]) return;
      event.preventDefault();
      keys[event.key]();
    });

    if (window.ResizeObserver) new ResizeObserver(render).observe(stage);
    else window.addEventListener("resize", render);

    // Set here, not in a style attribute: the CSP allows no inline styles (CSSOM is not inline).
    stage.style.setProperty("--ratio", W + " / " + H);
    root.querySelectorAll(".js-only[hidden]").forEach(function (el) { el.hidden = false; });
    root.classList.add("is-live");
    setMode("split");
  }

  document.querySelectorAll(".compare[data-width]").forEach(setup);
})();
