// Live updates by EventSource. Text is only set with textContent: nothing is parsed as HTML.
(function () {
  "use strict";
  var root = document.getElementById("job");
  if (!root || !window.EventSource) { return; }
  var url = root.getAttribute("data-events");
  var zone = root.getAttribute("data-timezone") || "UTC";
  // The page's strings (data-i18n) and locale.
  var lang = root.getAttribute("data-lang") || undefined;
  var words = {};
  try { words = JSON.parse(root.getAttribute("data-i18n") || "{}"); } catch (e) { words = {}; }
  function say(key, fallback, values) {
    var text = words[key] || fallback;
    Object.keys(values || {}).forEach(function (name) { text = text.split("{" + name + "}").join(String(values[name])); });
    return text;
  }
  // A counted phrase by the language's CLDR plural rules.
  function sayCount(key, n) {
    var forms = words[key];
    if (!forms || typeof forms !== "object") { return null; }
    var category = "other";
    try { category = new Intl.PluralRules(lang).select(n); } catch (e) { category = n === 1 ? "one" : "other"; }
    return forms[category] || forms.other || null;
  }
  // Re-word a sentence; "{name}" and "{minutes}" keep their elements.
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
  function shortDay(iso) {
    try {
      return new Intl.DateTimeFormat(lang, { weekday: "short", month: "short", day: "numeric", timeZone: zone }).format(new Date(iso));
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
    if (!state) { return; }
    var eta = state.eta;
    show("eta", !!eta);
    // Late by the estimate, or the window ended unstarted.
    show("eta-late", !!state.late || !!(eta && eta.late));
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
    // The range alone when "around" would repeat an end.
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
    show("legend-home", !!(loc && state.destination));
    // map.js draws; null: the position is gone.
    document.dispatchEvent(new CustomEvent("portal:location", { detail: loc && {
      location: loc, trail: state.trail || [], destination: state.destination || null, route: state.route || null
    } }));
  }
  // The five steps (portal/core/stepper.py: keep STEP_OF the same).
  var STEPS = ["booked", "assigned", "on_the_way", "on_site", "done"];
  var STEP_OF = { created: 0, scheduled: 0, dispatched: 1, en_route: 2, in_progress: 3, completed: 4 };
  function renderStepper() {
    var list = document.getElementById("stepper");
    if (!list || !state.timeline) { return; }
    var reached = {};
    state.timeline.forEach(function (t) { if (t.status in STEP_OF) { reached[STEP_OF[t.status]] = t.at; } });
    var seen = Object.keys(reached).map(Number);
    var current = state.status in STEP_OF ? STEP_OF[state.status] : (seen.length ? Math.max.apply(null, seen) : 0);
    list.hidden = state.status === "cancelled";
    show("held", state.status === "on_hold");
    STEPS.forEach(function (key, i) {
      var item = list.querySelector('[data-step="' + key + '"]');
      if (!item) { return; }
      var kind = i < current ? "done" : i === current ? "current" : "upcoming";
      item.className = "step is-" + kind;
      if (kind === "current") { item.setAttribute("aria-current", "step"); } else { item.removeAttribute("aria-current"); }
      item.querySelector(".step-current").textContent = kind === "current" ? " (" + say("current_step", "current step") + ")" : "";
      var time = item.querySelector(".step-at");
      var at = i <= current ? reached[i] : null;
      if ((at || null) === time.getAttribute("datetime")) { return; }
      time.textContent = at ? (i < 2 ? shortDay(at) : clock(at)) : "";
      if (at) { time.setAttribute("datetime", at); } else { time.removeAttribute("datetime"); }
    });
  }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text != null) { node.textContent = String(text); }
    return node;
  }
  // Work on site: steps with time, percent, note and photo.
  function renderWork() {
    var list = document.getElementById("work-steps");
    var steps = state.progress;
    if (!list || !steps) { return; }
    show("work", steps.length > 0);
    show("work-now", state.status !== "completed");
    show("work-done", state.status === "completed");
    list.textContent = "";
    steps.forEach(function (step) {
      var item = el("li", "work-step");
      var title = el("p", "work-title", step.title + " ");
      var time = el("time", null, clock(step.at));
      time.setAttribute("datetime", step.at);
      title.appendChild(time);
      item.appendChild(title);
      if (step.percent != null) {
        var line = el("p", "work-percent");
        var bar = el("progress");
        bar.max = 100; bar.value = step.percent; bar.setAttribute("aria-hidden", "true");
        line.appendChild(bar);
        line.appendChild(document.createTextNode(" " + say("percent", "{n}% done", { n: step.percent })));
        item.appendChild(line);
      }
      if (step.note) { item.appendChild(el("p", "work-note", step.note)); }
      if (step.photo_url && /^https:\/\//.test(step.photo_url)) {
        var link = el("a", "work-photo");
        link.href = step.photo_url; link.target = "_blank"; link.rel = "noopener noreferrer";
        var img = el("img");
        img.src = step.photo_url; img.alt = step.title; img.width = 320; img.height = 240;
        img.loading = "lazy"; img.decoding = "async";
        link.appendChild(img);
        item.appendChild(link);
      }
      list.appendChild(item);
    });
  }
  function renderTechnician() {
    var tech = state.technician;
    show("technician", !!tech);
    setText("tech_name", tech ? tech.name : say("your_technician", "Your technician"));
    setText("tech_initial", tech && tech.name ? tech.name.charAt(0) : "");
    setText("tech_vehicle", tech && tech.vehicle ? tech.vehicle : "");
    show("tech-vehicle", !!(tech && tech.vehicle));
    fields("tech_photo").forEach(function (img) {
      var url = tech && tech.photo_url;
      img.hidden = !url || img.dataset.failed === url;
      if (url && img.getAttribute("src") !== url) { img.src = url; }
    });
  }
  function renderAll() {
    if (!state) { return; }
    zone = state.timezone || zone;
    setText("status_label", state.status_label);
    setText("service", state.service || "");
    setText("reference", state.reference);
    renderTechnician();
    show("window", !!state.window);
    if (state.window) { setText("window", dayClock(state.window.start) + " – " + clock(state.window.end)); }
    var heading = root.querySelector("h1.status");
    if (heading) { heading.className = "status status-" + state.status; }
    renderEta();
    renderLocation();
    renderStepper();
    renderWork();
    renderRequests();
  }
  // A pending reschedule shows until the field system answers it.
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
    state.trail = data.trail; state.destination = data.destination; state.route = data.route;
    state.labels = labels;
    renderAll();
  }
  function onEta(ev) { var data = JSON.parse(ev.data); if (state) { state.eta = data.at ? data : null; renderEta(); } }
  function onLocation(ev) {
    if (!state) { return; }
    var data = JSON.parse(ev.data);
    state.trail = data.trail || state.trail;
    delete data.trail;
    state.location = data;
    renderLocation();
  }
  function onProgress(ev) { if (state) { state.progress = JSON.parse(ev.data).progress || []; renderWork(); } }

  function connect() {
    source = new EventSource(url);
    source.addEventListener("snapshot", onState);
    source.addEventListener("job", onState);
    source.addEventListener("status", onStatus);
    source.addEventListener("eta", onEta);
    source.addEventListener("location", onLocation);
    source.addEventListener("progress", onProgress);
    source.onopen = function () { retryMs = 1000; document.documentElement.setAttribute("data-live", "1"); };
    source.onerror = function () {
      document.documentElement.removeAttribute("data-live");
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. 410): retry, backing off.
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 60000);
      }
    };
  }
  // A failed photo shows the initial.
  fields("tech_photo").forEach(function (img) {
    function failed() { img.dataset.failed = img.getAttribute("src"); img.hidden = true; }
    img.addEventListener("error", failed);
    if (img.complete && img.getAttribute("src") && !img.naturalWidth) { failed(); }
  });
  setInterval(renderEta, TICK_MS);
  connect();
})();
