// Live updates for the tracking page: an EventSource that re-renders the changing parts.
// Text is only ever set with textContent, so nothing from the server is parsed as HTML.
(function () {
  "use strict";
  var root = document.getElementById("job");
  if (!root || !window.EventSource) { return; }
  var url = root.getAttribute("data-events");
  var zone = root.getAttribute("data-timezone") || "UTC";
  // The customer's language: the page's own strings (data-i18n) and its locale for dates.
  var lang = root.getAttribute("data-lang") || undefined;
  var words = {};
  try { words = JSON.parse(root.getAttribute("data-i18n") || "{}"); } catch (e) { words = {}; }
  function say(key, fallback, values) {
    var text = words[key] || fallback;
    Object.keys(values || {}).forEach(function (name) { text = text.split("{" + name + "}").join(String(values[name])); });
    return text;
  }
  // A counted phrase: the form for n by the language's plural rules (CLDR, as the server's catalogue).
  function sayCount(key, n) {
    var forms = words[key];
    if (!forms || typeof forms !== "object") { return null; }
    var category = "other";
    try { category = new Intl.PluralRules(lang).select(n); } catch (e) { category = n === 1 ? "one" : "other"; }
    return forms[category] || forms.other || null;
  }
  // Re-word a sentence around its live parts: "{name}" and "{minutes}" keep their elements.
  function reword(id, text) {
    var el = document.getElementById(id);
    if (!el || !text) { return; }
    var parts = {};
    el.querySelectorAll("[data-part]").forEach(function (part) { parts[part.getAttribute("data-part")] = part; });
    var nodes = text.split(/(\{[a-z_]+\})/).map(function (piece) {
      var name = /^\{([a-z_]+)\}$/.exec(piece);
      return name && parts[name[1]] ? parts[name[1]] : document.createTextNode(piece);
    });
    el.replaceChildren.apply(el, nodes);
  }
  function decimal(value) {
    try { return new Intl.NumberFormat(lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(value); } catch (e) { return value.toFixed(1); }
  }
  var state = null;
  var source = null;
  var retryMs = 1000;
  var TICK_MS = 1000; // "updated N s ago" counts in seconds
  var KM = 1000;
  var METRES_PER_MILE = 1609.344;
  var METRE_STEP = 10; // GPS is not better than this: "850 m", not "847 m"

  function fields(name) { return root.querySelectorAll('[data-field="' + name + '"]'); }
  function setText(name, text) { fields(name).forEach(function (el) { el.textContent = text == null ? "" : String(text); }); }
  function show(id, visible) { var el = document.getElementById(id); if (el) { el.hidden = !visible; } }

  function clock(iso) {
    try {
      return new Intl.DateTimeFormat(lang, { hour: "numeric", minute: "2-digit", timeZone: zone }).format(new Date(iso));
    } catch (e) { return iso; }
  }
  function dayClock(iso) {
    try {
      return new Intl.DateTimeFormat(lang, { weekday: "long", month: "long", day: "numeric", hour: "numeric", minute: "2-digit", timeZone: zone }).format(new Date(iso));
    } catch (e) { return iso; }
  }
  function minutesUntil(iso) { return Math.max(0, Math.round((new Date(iso).getTime() - Date.now()) / 60000)); }

  function distance(metres) {
    if (metres < KM) { return Math.round(metres / METRE_STEP) * METRE_STEP + " m"; }
    return decimal(metres / KM) + " km (" + decimal(metres / METRES_PER_MILE) + " mi)";
  }
  function ago(iso) {
    var seconds = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
    return seconds < 60 ? say("ago_seconds", "{n} s ago", { n: seconds }) : say("ago_minutes", "{n} min ago", { n: Math.floor(seconds / 60) });
  }
  // Stale when the server said so, or once its "stale_at" passes with no news since.
  function isStale(eta) { return !!eta.stale || (!!eta.stale_at && Date.now() >= new Date(eta.stale_at).getTime()); }

  function renderEta() {
    var eta = state && state.eta;
    show("eta", !!eta);
    // Late by the live estimate, or by the clock (the window ended before the visit started).
    show("eta-late", !!(state && state.late) || !!(eta && eta.late));
    if (!eta) { return; }
    var stale = isStale(eta);
    var box = document.getElementById("eta");
    if (box) { box.classList.toggle("is-stale", stale); }
    var minutes = minutesUntil(eta.at);
    var soon = !!eta.arriving || minutes < 1; // "arriving now", never "0 minutes away"
    show("eta-live", !stale && !soon);
    show("eta-arriving", !stale && soon);
    reword("eta-live", sayCount("minutes_away", minutes));
    show("eta-stale", stale);
    show("eta-distance", eta.distance_m != null);
    setText("eta_minutes", minutes);
    setText("eta_clock", clock(eta.at));
    setText("eta_range", eta.range ? clock(eta.range.start) + " – " + clock(eta.range.end) : "");
    // "around 2:54" next to "2:54 – 2:57" says it twice: the range alone then.
    var atEdge = !!eta.range && (clock(eta.at) === clock(eta.range.start) || clock(eta.at) === clock(eta.range.end));
    show("eta-around", !atEdge);
    show("eta-range-only", atEdge);
    setText("eta_distance", eta.distance_m != null ? distance(eta.distance_m) : "");
    setText("eta_updated", eta.updated_at ? ago(eta.updated_at) : "");
  }
  function renderLocation() {
    var loc = (state && state.location) || null;
    show("location", !!loc);
    if (loc) { setText("location_at", clock(loc.updated_at)); }
    // map.js draws it; null tells it the position is gone.
    document.dispatchEvent(new CustomEvent("portal:location", { detail: loc }));
  }
  function renderTimeline() {
    var list = document.getElementById("timeline");
    if (!list || !state.timeline) { return; }
    list.textContent = "";
    state.timeline.forEach(function (step) {
      var item = document.createElement("li");
      var label = document.createElement("span");
      label.className = "step";
      label.textContent = (state.labels && state.labels[step.status]) || step.status_label || step.status;
      var time = document.createElement("time");
      time.setAttribute("datetime", step.at);
      time.textContent = dayClock(step.at);
      item.appendChild(label);
      item.appendChild(document.createTextNode(" "));
      item.appendChild(time);
      list.appendChild(item);
    });
  }
  function renderAll() {
    if (!state) { return; }
    zone = state.timezone || zone;
    setText("status_label", state.status_label);
    setText("service", state.service || "");
    setText("reference", state.reference);
    var tech = state.technician;
    show("technician", !!tech);
    setText("tech_name", tech ? tech.name : say("your_technician", "Your technician"));
    fields("tech_photo").forEach(function (img) { if (tech && tech.photo_url) { img.src = tech.photo_url; } });
    show("window", !!state.window);
    if (state.window) { setText("window", dayClock(state.window.start) + " – " + clock(state.window.end)); }
    var heading = root.querySelector("h1.status");
    if (heading) { heading.className = "status status-" + state.status; }
    renderEta();
    renderLocation();
    renderTimeline();
    renderRequests();
  }
  // A pending reschedule shows until the field system answers it; the slot form only while possible.
  function renderRequests() {
    if (!("reschedule" in state) && !("can_reschedule" in state)) { return; }
    var pending = state.reschedule || null;
    show("reschedule-pending", !!pending);
    if (pending && pending.slot) { setText("reschedule_slot", dayClock(pending.slot.start) + " – " + clock(pending.slot.end)); }
    show("reschedule", !pending && !!state.can_reschedule);
    if ("rating" in state) { show("rating-summary", !!state.rating); }
  }

  var labels = {};
  try { labels = JSON.parse(root.getAttribute("data-labels") || "{}"); } catch (e) { labels = {}; }
  function remember(data) { if (data.status && data.status_label) { labels[data.status] = data.status_label; } }

  function onState(ev) { state = JSON.parse(ev.data); state.labels = labels; remember(state); renderAll(); }
  function onStatus(ev) {
    var data = JSON.parse(ev.data);
    remember(data);
    state = state || {};
    state.status = data.status; state.status_label = data.status_label;
    state.timeline = data.timeline; state.eta = data.eta; state.location = data.location; state.late = !!data.late;
    state.labels = labels;
    renderAll();
  }
  function onEta(ev) { var data = JSON.parse(ev.data); if (state) { state.eta = data.at ? data : null; renderEta(); } }
  function onLocation(ev) { if (state) { state.location = JSON.parse(ev.data); renderLocation(); } }

  function connect() {
    source = new EventSource(url);
    source.addEventListener("snapshot", onState);
    source.addEventListener("job", onState);
    source.addEventListener("status", onStatus);
    source.addEventListener("eta", onEta);
    source.addEventListener("location", onLocation);
    source.onopen = function () { retryMs = 1000; document.documentElement.setAttribute("data-live", "1"); };
    source.onerror = function () {
      document.documentElement.removeAttribute("data-live");
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (for example a 410): try again later, backing off.
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 60000);
      }
    };
  }
  setInterval(renderEta, TICK_MS);
  connect();
})();
