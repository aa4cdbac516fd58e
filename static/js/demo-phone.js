// The demo phone page reloads itself when a message arrives, unless a reply is being typed.
(function () {
  "use strict";
  var root = document.getElementById("demo");
  if (!root || !window.fetch) { return; }
  var url = root.getAttribute("data-version-url");
  var POLL_MS = 2000; // messages are rendered by the worker within a second or two
  var seen = null;
  function typing() {
    var active = document.activeElement;
    var fields = document.querySelectorAll('.reply input[name="body"]');
    for (var i = 0; i < fields.length; i++) { if (fields[i].value) { return true; } }
    return !!active && active.name === "body";
  }
  function poll() {
    fetch(url, { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (data) {
      if (seen !== null && data.version !== seen && !typing()) { window.location.reload(); return; }
      seen = data.version;
    }).catch(function () { /* the demo stopped: try again on the next tick */ });
  }
  poll();
  setInterval(poll, POLL_MS);
})();
