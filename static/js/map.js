// The map (technician, address, trail, route) for the tracking page; see docs/templates.md.
// Optional: any failure here leaves the rest of the page as it is.
(function () {
  "use strict";
  var box = document.getElementById("map");
  var root = document.getElementById("job");
  if (!box || !root) { return; }
  var figure = document.getElementById("map-figure");
  var tiles = box.getAttribute("data-tiles");
  var staleAfterMs = (Number(root.getAttribute("data-stale-after")) || 180) * 1000;
  var words = {};
  try { words = JSON.parse(root.getAttribute("data-i18n") || "{}"); } catch (e) { words = {}; }
  var GLIDE_MS = 1500; // long enough to read as movement, shorter than any ping interval
  var ZOOM = 15; // a few blocks around the technician when there is no address to fit
  var FIT_MAX_ZOOM = 16; // two ends close together still show the streets around them
  var FIT_PADDING = [36, 36]; // pixels: markers never sit on the map's edge
  var MAX_ZOOM = 19; // the deepest zoom common tile servers offer
  var KEEP_IN_VIEW = -0.1; // refit once a marker leaves the middle 80% of the map
  var TICK_MS = 5000; // how often a position is checked for going stale
  var LIVE = "#0b5cad";
  var STALE = "#8a8f96";
  var HOME = "#17202a";

  var map = null, marker = null, circle = null, home = null, trail = null, route = null;
  var shown = null; // where the marker is drawn now (mid-glide too)
  var latest = null; // the last {location, trail, destination, route} received
  var glide = null;
  var loading = false;

  function loadLeaflet(done) {
    if (window.L) { done(); return; }
    if (loading) { return; }
    loading = true;
    var waiting = 2;
    function one() { waiting -= 1; if (waiting === 0) { done(); } }
    var css = document.createElement("link");
    css.rel = "stylesheet";
    css.href = box.getAttribute("data-leaflet-css");
    css.onload = one;
    css.onerror = one; // unstyled is still a map
    document.head.appendChild(css);
    var script = document.createElement("script");
    script.src = box.getAttribute("data-leaflet-js");
    script.onload = one;
    script.onerror = function () { loading = false; };
    document.head.appendChild(script);
  }

  function isStale(loc) { return Date.now() - new Date(loc.updated_at).getTime() > staleAfterMs; }
  function points(list) { return (list || []).map(function (p) { return [p.lat, p.lon]; }); }
  // GeoJSON is [lon, lat]; Leaflet wants [lat, lon].
  function routePoints(line) { return line && line.coordinates ? line.coordinates.map(function (c) { return [c[1], c[0]]; }) : []; }

  function build(data) {
    var L = window.L, loc = data.location;
    // No focus or role on the map itself: its zoom buttons would be nested controls.
    map = L.map(box, { attributionControl: false, zoomControl: false, keyboard: false, scrollWheelZoom: false, maxZoom: MAX_ZOOM });
    L.control.zoom({ zoomInTitle: words.zoom_in || "Zoom in", zoomOutTitle: words.zoom_out || "Zoom out" }).addTo(map);
    map.setView([loc.lat, loc.lon], ZOOM);
    // Tiles see the page's origin, never its path (the customer's private link).
    L.tileLayer(tiles, { maxZoom: MAX_ZOOM, referrerPolicy: "strict-origin" }).addTo(map);
    // Class names let the page's tests find each layer.
    route = L.polyline([], { className: "map-route", color: LIVE, weight: 5, opacity: 0.35, interactive: false }).addTo(map);
    trail = L.polyline([], { className: "map-trail", color: LIVE, weight: 4, opacity: 0.8, dashArray: "2 8", lineCap: "round", interactive: false }).addTo(map);
    circle = L.circle([loc.lat, loc.lon], { className: "map-accuracy", radius: loc.accuracy_m || 0, weight: 1, interactive: false }).addTo(map);
    home = L.circleMarker([0, 0], { className: "map-home", radius: 8, weight: 3, color: "#fff", fillColor: HOME, fillOpacity: 1, interactive: false });
    lines(data); // before the technician's marker, which is drawn on top
    marker = L.circleMarker([loc.lat, loc.lon], {
      className: "map-tech", radius: 10, weight: 3, color: "#fff", fillColor: LIVE, fillOpacity: 1, interactive: false
    }).addTo(map);
    shown = { lat: loc.lat, lon: loc.lon };
    settled(loc, true);
  }

  function lines(data) {
    trail.setLatLngs(points(data.trail));
    route.setLatLngs(routePoints(data.route));
    if (data.destination) {
      home.setLatLng([data.destination.lat, data.destination.lon]);
      if (!map.hasLayer(home)) { home.addTo(map); }
    } else if (map.hasLayer(home)) { map.removeLayer(home); }
  }

  function place(lat, lon) {
    marker.setLatLng([lat, lon]);
    circle.setLatLng([lat, lon]);
    shown = { lat: lat, lon: lon };
  }

  // Both ends in view: the technician and, when known, the address.
  function fit(force) {
    var L = window.L, at = marker.getLatLng();
    var ends = [at];
    if (map.hasLayer(home)) { ends.push(home.getLatLng()); }
    var inner = map.getBounds().pad(KEEP_IN_VIEW);
    if (!force && ends.every(function (p) { return inner.contains(p); })) { return; }
    if (ends.length > 1) { map.fitBounds(L.latLngBounds(ends), { padding: FIT_PADDING, maxZoom: FIT_MAX_ZOOM }); }
    else { map.panTo(at); }
  }

  // The glide is over: the marker stands exactly on the position, and says where (data-lat/lon).
  function settled(loc, force) {
    place(loc.lat, loc.lon);
    var at = marker.getLatLng();
    box.setAttribute("data-lat", String(at.lat));
    box.setAttribute("data-lon", String(at.lng));
    box.setAttribute("data-trail", String(trail.getLatLngs().length));
    fit(force);
  }

  function moveTo(data) {
    var loc = data.location;
    if (glide !== null) { cancelAnimationFrame(glide); glide = null; }
    circle.setRadius(loc.accuracy_m || 0);
    lines(data);
    var from = shown;
    if (document.hidden || !from) { settled(loc, false); return; }
    var started = null;
    function step(now) {
      if (started === null) { started = now; }
      var t = Math.min(1, (now - started) / GLIDE_MS);
      var eased = t * (2 - t); // ease out: arrive gently
      place(from.lat + (loc.lat - from.lat) * eased, from.lon + (loc.lon - from.lon) * eased);
      if (t < 1) { glide = requestAnimationFrame(step); return; }
      glide = null;
      settled(loc, false);
    }
    glide = requestAnimationFrame(step);
  }

  // A position with no news for a while turns grey and the legend says "last known position".
  function restyle() {
    if (!marker || !latest) { return; }
    var stale = isStale(latest.location);
    marker.setStyle({ fillColor: stale ? STALE : LIVE });
    if (figure) { figure.classList.toggle("is-stale", stale); }
    box.setAttribute("data-stale", stale ? "1" : "0");
  }

  // The position is gone (no longer en route): remove the map, so nothing of it stays in the page.
  function clear() {
    latest = null;
    if (glide !== null) { cancelAnimationFrame(glide); glide = null; }
    if (map) { map.remove(); }
    map = null; marker = null; circle = null; home = null; trail = null; route = null; shown = null;
    ["data-lat", "data-lon", "data-trail", "data-stale"].forEach(function (name) { box.removeAttribute(name); });
  }

  function onLocation(ev) {
    var data = ev.detail;
    var loc = data && data.location;
    if (!loc || typeof loc.lat !== "number" || typeof loc.lon !== "number") { clear(); return; }
    latest = data;
    loadLeaflet(function () {
      if (!latest) { return; }
      try {
        if (!map) { build(latest); } else { moveTo(latest); }
        restyle();
      } catch (e) { clear(); }
    });
  }

  document.addEventListener("portal:location", onLocation);
  setInterval(restyle, TICK_MS);
})();
