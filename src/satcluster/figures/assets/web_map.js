function satclusterIsLow(q) {
  // q: the tile's consensus confidence (only with several seeds); null: unknown, not low
  var meta = satclusterMeta;
  return meta.lowConfidence !== undefined && q !== null && q !== undefined &&
    q < meta.lowConfidence;
}
function satclusterStyle(kIndex) {
  var meta = satclusterMeta, colors = meta.colors[kIndex];
  return function (feature) {
    var faded = kIndex === meta.finalIndex && satclusterIsLow(feature.properties.q);
    return {fillColor: colors[feature.properties.k[kIndex]],
      fillOpacity: faded ? meta.fadedOpacity : 0.75, stroke: false};
  };
}
function satclusterFormat(value) {
  if (value === null || value === undefined) { return "N.A."; }
  return value.toLocaleString("en", {maximumFractionDigits: Math.abs(value) < 10 ? 3 : 1});
}
function satclusterEscape(text) {
  return String(text).replace(/[&<>"]/g, function (ch) {
    return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[ch];
  });
}
function satclusterPopup(feature) {
  var p = feature.properties, meta = satclusterMeta;
  var html = "<div class='satcluster-popup'><b>tile " + p.t + "</b>";
  if (p.s) { html += " · " + satclusterEscape(p.s) + " row " + p.r + ", col " + p.c; }
  var finalLabel = p.k[meta.finalIndex];
  html += "<br>cluster <b>" + satclusterEscape(meta.names[finalLabel]) + "</b> (k = " +
    meta.ks[meta.finalIndex] + ")<br>";
  if (meta.lowConfidence !== undefined) {
    html += "confidence: " + (satclusterIsLow(p.q) ? "<b>low</b>, " : "") +
      (p.q === null || p.q === undefined ? "N.A." : Math.round(100 * p.q) + "% of seeds agree") +
      "<br>";
  }
  html += meta.ks.map(function (k, i) { return "k" + k + ": " + p.k[i]; }).join(", ");
  var thumb = satclusterThumbs[p.t];
  if (thumb) {
    html += "<br><img src='" + thumb + "' width='" + meta.thumbnailPx + "' height='" +
      meta.thumbnailPx + "' alt='tile " + p.t + "'>";
  } else {
    html += "<br><i>no thumbnail embedded for this tile (figures.map_max_thumbnails)</i>";
  }
  html += "<table>";
  meta.covariates.forEach(function (label, i) {
    html += "<tr><td>" + satclusterEscape(label) + "</td><td>" + satclusterFormat(p.v[i]) +
      "</td></tr>";
  });
  return html + "</table></div>";
}
function satclusterLayer(kIndex) {
  // Features are created when the layer is first shown: one k at a time stays light.
  var layer = L.geoJSON(null, {
    style: satclusterStyle(kIndex),
    onEachFeature: function (feature, path) { path.bindPopup(function () { return satclusterPopup(feature); }, {maxWidth: 420}); }
  });
  layer.once("add", function () { layer.addData(satclusterData); });
  return layer;
}
function satclusterLegend(map, initialIndex) {
  var legend = L.control({position: "bottomright"});
  legend.onAdd = function () {
    this._div = L.DomUtil.create("div", "satcluster-legend");
    this.show(initialIndex);
    return this._div;
  };
  legend.show = function (kIndex) {
    var meta = satclusterMeta, k = meta.ks[kIndex];
    var html = "<b>clusters, k = " + k + "</b>";
    for (var i = 0; i < k; i++) {
      var name = "cluster " + i;
      if (kIndex === meta.finalIndex && meta.names[i] !== name) { name = i + " · " + meta.names[i]; }
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
