// The map's own script. figures/web_map.py writes satclusterMeta (ks, colours, names, the
// lattice) and satclusterTiles (base64 typed arrays: grid cells, labels, faded flags) before
// it; popup data and thumbnails are files in the folder beside the page (meta.files).
var satclusterGrid = null;  // the decoded tiles, shared by every k
var satclusterChunkData = {};  // popup chunk index -> its data, once its script has run
var satclusterChunkWaiting = {};  // chunk index -> callbacks waiting for its script

function satclusterArray(base64, bytes) {
  // Python writes little-endian integers: the byte order of typed arrays in every browser.
  var text = atob(base64), raw = new Uint8Array(text.length);
  for (var i = 0; i < text.length; i++) { raw[i] = text.charCodeAt(i); }
  if (bytes === 4) { return new Uint32Array(raw.buffer); }
  return bytes === 2 ? new Uint16Array(raw.buffer) : raw;
}
function satclusterInterpolate(lattice, x, y, out, at) {
  // Bilinear in the lattice of exactly placed nodes, as web_map_data.interpolate (which
  // checks the error against the exact reprojection).
  var fx = x / lattice.step, fy = y / lattice.step;
  var i = Math.min(Math.floor(fx), lattice.nx - 2), j = Math.min(Math.floor(fy), lattice.ny - 2);
  fx -= i; fy -= j;
  var a = j * lattice.nx + i, c = a + lattice.nx;
  var w0 = (1 - fx) * (1 - fy), w1 = fx * (1 - fy), w2 = (1 - fx) * fy, w3 = fx * fy;
  var u = lattice.u, v = lattice.v;
  out[at] = w0 * u[a] + w1 * u[a + 1] + w2 * u[c] + w3 * u[c + 1];
  out[at + 1] = w0 * v[a] + w1 * v[a + 1] + w2 * v[c] + w3 * v[c + 1];
}
function satclusterWorld(latlng) {
  // Leaflet's pixel coordinates at zoom 0 divided by 256: x * scale(zoom) is a pixel.
  var crs = L.CRS.EPSG3857;
  return crs.transformation.transform(crs.projection.project(latlng), 1);
}
function satclusterDecode() {
  // Corners of every tile in world coordinates (8 numbers a tile), computed once.
  if (satclusterGrid) { return satclusterGrid; }
  var data = satclusterTiles, n = data.n, lattice = satclusterMeta.lattice;
  var nodes = {step: lattice.step, nx: lattice.nx, ny: lattice.ny,
    u: new Float64Array(lattice.lat.length), v: new Float64Array(lattice.lat.length)};
  for (var m = 0; m < lattice.lat.length; m++) {
    var p = satclusterWorld(L.latLng(lattice.lat[m], lattice.lng[m]));
    nodes.u[m] = p.x; nodes.v[m] = p.y;
  }
  var cells = satclusterArray(data.cells, data.cellBytes), corners = new Float64Array(8 * n);
  for (var i = 0; i < n; i++) {
    var x = cells[2 * i], y = cells[2 * i + 1];
    satclusterInterpolate(nodes, x, y, corners, 8 * i);
    satclusterInterpolate(nodes, x + 1, y, corners, 8 * i + 2);
    satclusterInterpolate(nodes, x + 1, y + 1, corners, 8 * i + 4);
    satclusterInterpolate(nodes, x, y + 1, corners, 8 * i + 6);
  }
  satclusterGrid = {n: n, corners: corners, labels: satclusterArray(data.labels, data.labelBytes),
    low: data.low === undefined ? null : satclusterArray(data.low, 1), pixels: []};
  return satclusterGrid;
}
function satclusterLabel(kIndex, i) {
  var grid = satclusterDecode();
  return grid.labels[kIndex * grid.n + i];
}
function satclusterIsLow(kIndex, i) {
  // Faded: a tile of the final k whose seeds agree less than meta.lowConfidence.
  var grid = satclusterDecode();
  return kIndex === satclusterMeta.finalIndex && grid.low !== null && grid.low[i] === 1;
}
function satclusterOpacity(kIndex, i) {
  return satclusterIsLow(kIndex, i) ? satclusterMeta.fadedOpacity : 0.75;
}
function satclusterPixel(color, opacity) {
  // A "#rrggbb" colour with an opacity as one RGBA pixel of an ImageData's Uint32 view
  // (bytes in memory order, whatever the platform's endianness).
  var bytes = new Uint8ClampedArray(4);
  for (var c = 0; c < 3; c++) { bytes[c] = parseInt(color.substr(1 + 2 * c, 2), 16); }
  bytes[3] = Math.round(255 * opacity);
  return new Uint32Array(bytes.buffer)[0];
}
function satclusterColors(kIndex) {
  // The pixel of every tile at a k, made when the k is first drawn.
  var grid = satclusterDecode();
  if (grid.pixels[kIndex]) { return grid.pixels[kIndex]; }
  var colors = satclusterMeta.colors[kIndex], pixels = new Uint32Array(grid.n), table = [];
  for (var i = 0; i < grid.n; i++) {
    var label = satclusterLabel(kIndex, i), key = 2 * label + (satclusterIsLow(kIndex, i) ? 1 : 0);
    if (table[key] === undefined) {
      table[key] = satclusterPixel(colors[label], satclusterOpacity(kIndex, i));
    }
    pixels[i] = table[key];
  }
  grid.pixels[kIndex] = pixels;
  return pixels;
}
function satclusterFillQuad(pixels, width, height, x, y, color) {
  // The pixels whose centre is inside a convex quadrilateral (corners x, y in device pixels):
  // half-open spans computed the same way from both sides of a shared edge, so adjacent
  // tiles leave neither a seam nor an overlap (canvas paths would: anti-aliased edges).
  var top = Math.max(Math.ceil(Math.min(y[0], y[1], y[2], y[3]) - 0.5), 0);
  var bottom = Math.min(Math.ceil(Math.max(y[0], y[1], y[2], y[3]) - 0.5), height);
  for (var row = top; row < bottom; row++) {
    var centre = row + 0.5, left = Infinity, right = -Infinity;
    for (var c = 0; c < 4; c++) {
      var d = (c + 1) & 3, low = y[c] <= y[d] ? c : d, high = low === c ? d : c;
      if (centre >= y[low] && centre < y[high]) {
        var at = x[low] + (centre - y[low]) * (x[high] - x[low]) / (y[high] - y[low]);
        if (at < left) { left = at; }
        if (at > right) { right = at; }
      }
    }
    var from = Math.max(Math.ceil(left - 0.5), 0), to = Math.min(Math.ceil(right - 0.5), width);
    if (from < to) { pixels.fill(color, row * width + from, row * width + to); }
  }
}
function satclusterDraw(canvas, ctx, map, bounds, kIndex) {
  // Every tile in view rasterised into one ImageData: tens of ms for 10^5 tiles, where as many
  // canvas paths take seconds without a GPU.
  var grid = satclusterDecode(), colors = satclusterColors(kIndex), corners = grid.corners;
  var width = canvas.width, height = canvas.height, m = width / (bounds.max.x - bounds.min.x);
  var image = ctx.createImageData(width, height), pixels = new Uint32Array(image.data.buffer);
  var scale = map.options.crs.scale(map.getZoom()) * m, origin = map.getPixelOrigin();
  var ox = (origin.x + bounds.min.x) * m, oy = (origin.y + bounds.min.y) * m;
  var x = new Float64Array(4), y = new Float64Array(4);
  for (var i = 0; i < grid.n; i++) {
    var at = 8 * i;
    for (var c = 0; c < 4; c++) {
      x[c] = corners[at + 2 * c] * scale - ox;
      y[c] = corners[at + 2 * c + 1] * scale - oy;
    }
    if (Math.max(x[0], x[1], x[2], x[3]) < 0 || Math.min(x[0], x[1], x[2], x[3]) > width) {
      continue;
    }
    satclusterFillQuad(pixels, width, height, x, y, colors[i]);
  }
  ctx.putImageData(image, 0, 0);
}
function satclusterTileAt(latlng) {
  // The tile under a point (-1: none): a scan of the corners, a few ms for 10^5 tiles.
  var grid = satclusterDecode(), corners = grid.corners, p = satclusterWorld(latlng);
  for (var i = 0; i < grid.n; i++) {
    var at = 8 * i, sign = 0, inside = true;
    for (var c = 0; c < 4 && inside; c++) {
      var ax = corners[at + 2 * c], ay = corners[at + 2 * c + 1];
      var bx = corners[at + (2 * c + 2) % 8], by = corners[at + (2 * c + 3) % 8];
      var cross = (bx - ax) * (p.y - ay) - (by - ay) * (p.x - ax);
      if (cross !== 0) {
        var side = cross > 0 ? 1 : -1;
        if (sign === 0) { sign = side; } else if (side !== sign) { inside = false; }
      }
    }
    if (inside) { return i; }
  }
  return -1;
}
function satclusterChunk(index, data) {
  // Called by the chunk script popups/<index>.js once the browser has read it.
  satclusterChunkData[index] = data;
  var waiting = satclusterChunkWaiting[index] || [];
  delete satclusterChunkWaiting[index];
  waiting.forEach(function (done) { done(data); });
}
function satclusterRecord(i, done) {
  // What the popup of tile i shows, to done(record); its chunk script is read on first use
  // (a <script> element: unlike fetch, it works on a page opened from disk).
  var meta = satclusterMeta, index = Math.floor(i / meta.chunkTiles);
  var finish = function (data) { done(satclusterRecordOf(i, data)); };
  if (satclusterChunkData[index]) { finish(satclusterChunkData[index]); return; }
  if (satclusterChunkWaiting[index]) { satclusterChunkWaiting[index].push(finish); return; }
  satclusterChunkWaiting[index] = [finish];
  var script = document.createElement("script");
  script.src = encodeURIComponent(meta.files) + "/popups/" + index + ".js";
  script.onerror = function () {
    var waiting = satclusterChunkWaiting[index] || [];
    delete satclusterChunkWaiting[index];
    script.remove();  // a later click tries again
    waiting.forEach(function (callback) { callback(null); });
  };
  document.head.appendChild(script);
}
function satclusterRecordOf(i, data) {
  var meta = satclusterMeta, j = i % meta.chunkTiles;
  var record = {index: i, low: satclusterIsLow(meta.finalIndex, i),
    k: meta.ks.map(function (k, kIndex) { return satclusterLabel(kIndex, i); })};
  if (data) {
    record.t = data.t[j]; record.s = data.s[j]; record.r = data.r[j]; record.c = data.c[j];
    record.v = data.v[j]; record.q = data.q ? data.q[j] : null; record.thumb = data.h[j] === 1;
  }
  return record;
}
function satclusterFormat(value) {
  if (value === null || value === undefined) { return "N.A."; }
  return value.toLocaleString("en", {maximumFractionDigits: Math.abs(value) < 10 ? 3 : 1});
}
function satclusterEscape(text) {
  return String(text).replace(/[&<>"']/g, function (ch) {
    return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[ch];
  });
}
function satclusterPopup(p) {
  var meta = satclusterMeta, folder = encodeURIComponent(meta.files);
  var html = "<div class='satcluster-popup'>";
  if (p.t === undefined) {
    html += "<b>tile</b> (its id, covariates and thumbnail are in the folder " +
      satclusterEscape(meta.files) + "/ beside this page, which the browser could not read)";
  } else {
    html += "<b>tile " + p.t + "</b>";
    if (p.s) { html += " · " + satclusterEscape(p.s) + " row " + p.r + ", col " + p.c; }
  }
  var finalLabel = p.k[meta.finalIndex];
  html += "<br>cluster <b>" + satclusterEscape(meta.names[finalLabel]) + "</b> (k = " +
    meta.ks[meta.finalIndex] + ")<br>";
  if (meta.lowConfidence !== undefined) {
    html += "confidence: " + (p.low ? "<b>low</b>, " : "") +
      (p.q === null || p.q === undefined ? "N.A." : Math.round(100 * p.q) + "% of seeds agree") +
      "<br>";
  }
  html += meta.ks.map(function (k, i) { return "k" + k + ": " + p.k[i]; }).join(", ");
  if (p.t === undefined) { return html + "</div>"; }
  if (p.thumb) {
    html += "<br><img src='" + folder + "/thumbnails/" + p.t + ".jpg' width='" + meta.thumbnailPx +
      "' height='" + meta.thumbnailPx + "' alt='tile " + p.t + "'>";
  } else {
    html += "<br><i>no thumbnail for this tile (figures.map_max_thumbnails)</i>";
  }
  html += "<table>";
  meta.covariates.forEach(function (label, i) {
    html += "<tr><td>" + satclusterEscape(label) + "</td><td>" + satclusterFormat(p.v[i]) +
      "</td></tr>";
  });
  return html + "</table></div>";
}
function satclusterMarkPainted() {
  // First paint, for benchmarks/web_map.py: after the frame that shows the first drawing.
  if (window.satclusterPainted !== undefined || window.satclusterPaintPending) { return; }
  window.satclusterPaintPending = true;
  requestAnimationFrame(function () {
    setTimeout(function () { window.satclusterPainted = performance.now(); }, 0);
  });
}
var SatclusterCanvas = L.Canvas.extend({
  // One k's tiles on a canvas. L.Canvas keeps it over the view through pans and zoom
  // animations, and calls _draw after each move; ours rasterises the tiles from the typed
  // arrays instead of drawing Leaflet paths (10^5 of them take seconds).
  initialize: function (kIndex) {
    L.Canvas.prototype.initialize.call(this, {padding: 0.1});
    this._kIndex = kIndex;
  },
  getEvents: function () {
    var events = L.Canvas.prototype.getEvents.call(this);
    events.click = this._openPopup;
    return events;
  },
  _draw: function () {
    satclusterDraw(this._container, this._ctx, this._map, this._bounds, this._kIndex);
    satclusterMarkPainted();
  },
  _openPopup: function (event) {
    var i = satclusterTileAt(event.latlng), map = this._map;
    if (i < 0) { return; }
    satclusterRecord(i, function (record) {
      L.popup({maxWidth: 420}).setLatLng(event.latlng).setContent(satclusterPopup(record))
        .openOn(map);
    });
  }
});
function satclusterLayer(kIndex) {
  return new SatclusterCanvas(kIndex);
}
var satclusterMap = null;  // the map, for scripts run in the page (tests, benchmarks)
function satclusterLegend(map, initialIndex) {
  satclusterMap = map;
  var legend = L.control({position: "bottomright"});
  legend.onAdd = function () {
    this._div = L.DomUtil.create("div", "satcluster-legend");
    // a click or scroll on the legend is not one on the tile under it
    L.DomEvent.disableClickPropagation(this._div);
    L.DomEvent.disableScrollPropagation(this._div);
    this.show(initialIndex);
    return this._div;
  };
  legend.show = function (kIndex) {
    var meta = satclusterMeta, k = meta.ks[kIndex];
    var html = "<b>clusters, k = " + k + "</b>";
    for (var i = 0; i < k; i++) {
      var name = "cluster " + i;
      if (kIndex === meta.finalIndex && meta.names[i] !== name) {
        name = i + " · " + meta.names[i];
      }
      html += "<div class='satcluster-entry'><span class='satcluster-swatch' style='background:" +
        meta.colors[kIndex][i] + "'></span>" + satclusterEscape(name) + " (" +
        (100 * meta.shares[kIndex][i]).toFixed(1) + "%)</div>";
    }
    if (kIndex === meta.finalIndex && meta.lowConfidence !== undefined) {
      html += "<div class='satcluster-entry'><span class='satcluster-swatch' style='background:" +
        "#777;opacity:" + meta.fadedOpacity + "'></span>" + satclusterEscape(meta.fadedCaption) +
        "</div>";
    }
    this._div.innerHTML = html;
  };
  legend.addTo(map);
  map.on("baselayerchange", function (event) {
    var kIndex = satclusterMeta.layerNames.indexOf(event.name);
    if (kIndex >= 0) { legend.show(kIndex); }
  });
  return legend;
}
