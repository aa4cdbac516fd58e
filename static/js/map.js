// The technician on a map, for the tracking page. It listens to the "portal:location" event
// that tracking.js dispatches (detail: the public location, or null once it is gone), loads
// the vendored Leaflet only when there is a position to show, and glides the marker from one
// ping to the next. The page says how far away and when in words; the map is extra, so any
// failure here (no tiles, no Leaflet) leaves the rest of the page as it is.
(function () {
  "use strict";
  var box = document.getElementById("map");
  var root = document.getElementById("job");
  if (!box || !root) { return; }
  var note = document.getElementById("map-attribution");
  var tiles = box.getAttribute("data-tiles");
  var staleAfterMs = (Number(root.getAttribute("data-stale-after")) || 180) * 1000;
  var GLIDE_MS = 1500; // long enough to read as movement, shorter than any ping interval
  var ZOOM = 15; // a few blocks around the technician: streets are readable
  var MAX_ZOOM = 19; // the deepest zoom common tile servers offer
  var KEEP_IN_VIEW = -0.2; // pan once the marker leaves the middle 60% of the map
  var TICK_MS = 5000; // how often a position is checked for going stale
  var LIVE = "#0b5cad";
  var STALE = "#8a8f96";

  var map = null;
  var marker = null;
  var circle = null;
  var shown = null; // where the marker is drawn now (mid-glide too)
  var latest = null; // the last position received
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

  function build(loc) {
    box.hidden = false;
    if (note) { note.hidden = false; }
    map = window.L.map(box, { attributionControl: false, scrollWheelZoom: false, maxZoom: MAX_ZOOM });
    map.setView([loc.lat, loc.lon], ZOOM);
    // Tiles get the page's origin as referrer (tile servers ask for one), never its path: the
    // path is the customer's private link.
    window.L.tileLayer(tiles, { maxZoom: MAX_ZOOM, referrerPolicy: "strict-origin" }).addTo(map);
    circle = window.L.circle([loc.lat, loc.lon], { radius: loc.accuracy_m || 0, weight: 1, interactive: false }).addTo(map);
    marker = window.L.circleMarker([loc.lat, loc.lon], {
      radius: 9, weight: 3, color: "#fff", fillColor: LIVE, fillOpacity: 1, interactive: false
    }).addTo(map);
    shown = { lat: loc.lat, lon: loc.lon };
    settled(loc);
  }

  function place(lat, lon) {
    marker.setLatLng([lat, lon]);
    circle.setLatLng([lat, lon]);
    shown = { lat: lat, lon: lon };
  }

  // The glide is over: the marker stands exactly on the position, and says where (data-lat/lon).
  function settled(loc) {
    place(loc.lat, loc.lon);
    var at = marker.getLatLng();
    box.setAttribute("data-lat", String(at.lat));
    box.setAttribute("data-lon", String(at.lng));
    if (!map.getBounds().pad(KEEP_IN_VIEW).contains(at)) { map.panTo(at); }
  }

  function moveTo(loc) {
    if (glide !== null) { cancelAnimationFrame(glide); glide = null; }
    circle.setRadius(loc.accuracy_m || 0);
    var from = shown;
    if (document.hidden || !from) { place(loc.lat, loc.lon); settled(loc); return; }
    var started = null;
    function step(now) {
      if (started === null) { started = now; }
      var t = Math.min(1, (now - started) / GLIDE_MS);
      var eased = t * (2 - t); // ease out: arrive gently
      place(from.lat + (loc.lat - from.lat) * eased, from.lon + (loc.lon - from.lon) * eased);
      if (t < 1) { glide = requestAnimationFrame(step); return; }
      glide = null;
      settled(loc);
    }
    glide = requestAnimationFrame(step);
  }

  function restyle() {
    if (marker && latest) { marker.setStyle({ fillColor: isStale(latest) ? STALE : LIVE }); }
  }

  // The position is gone (no longer en route): remove the map, so nothing of it stays in the page.
  function clear() {
    latest = null;
    if (glide !== null) { cancelAnimationFrame(glide); glide = null; }
    if (map) { map.remove(); }
    map = null; marker = null; circle = null; shown = null;
    box.hidden = true;
    box.removeAttribute("data-lat");
    box.removeAttribute("data-lon");
    if (note) { note.hidden = true; }
  }

  function onLocation(ev) {
    var loc = ev.detail;
    if (!loc || typeof loc.lat !== "number" || typeof loc.lon !== "number") { clear(); return; }
    var same = latest && latest.lat === loc.lat && latest.lon === loc.lon && latest.updated_at === loc.updated_at;
    latest = loc;
    if (same) { restyle(); return; }
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
