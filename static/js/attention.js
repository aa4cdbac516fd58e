/* The attention queue, live: each "queue" event carries the whole queue; the table is redrawn
   from it with textContent only (nothing from the server is parsed as HTML). */
(function () {
  "use strict";
  var status = document.getElementById("queue-status");
  var holder = document.getElementById("queue");
  if (!status || !holder || !window.EventSource) { return; }
  var base = holder.getAttribute("data-base");
  var csrf = holder.getAttribute("data-csrf");

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (cls) { node.className = cls; }
    return node;
  }

  /* What a reason means, from the page's own list of reasons (no text from the stream). */
  function helpOf(reason) {
    var found = null;
    Array.prototype.forEach.call(document.querySelectorAll("dd[data-reason]"), function (node) {
      if (node.getAttribute("data-reason") === reason) { found = node.textContent; }
    });
    return found;
  }

  function row(item) {
    var tr = el("tr");
    var job = el("td");
    var link = el("a", item.reference);
    link.href = base + "/jobs/" + encodeURIComponent(item.job_id);
    job.appendChild(link);
    if (item.reference !== item.job_id) { job.appendChild(document.createTextNode(" ")); job.appendChild(el("span", item.job_id, "muted")); }
    tr.appendChild(job);
    var why = el("td");
    var list = el("ul", null, "reasons");
    item.labels.forEach(function (label, i) {
      var reason = el("li", label, "reason reason-" + item.reasons[i]);
      var help = helpOf(item.reasons[i]);
      if (help) { reason.title = help; }  /* as the server-drawn rows have it */
      list.appendChild(reason);
    });
    why.appendChild(list);
    tr.appendChild(why);
    var waited = el("td");
    var time = el("time", item.waited);
    time.setAttribute("datetime", item.since);
    waited.appendChild(time);
    tr.appendChild(waited);
    var act = el("td");
    var form = el("form");
    form.method = "post";
    form.action = base + "/jobs/" + encodeURIComponent(item.job_id) + "/acknowledge";
    var token = el("input");
    token.type = "hidden"; token.name = "csrf_token"; token.value = csrf;
    var button = el("button", "Acknowledge");
    button.type = "submit";
    button.appendChild(el("span", " " + item.reference, "visually-hidden"));
    form.appendChild(token); form.appendChild(button);
    act.appendChild(form);
    tr.appendChild(act);
    return tr;
  }

  function draw(queue) {
    var items = queue.items;
    holder.textContent = "";
    if (!items.length) {
      holder.appendChild(el("p", "Nobody needs attention right now.", "empty"));
    } else {
      var table = el("table");
      var head = el("thead");
      var hr = el("tr");
      ["Job", "Why", "Waiting", ""].forEach(function (name) {
        var th = el("th", name);
        th.scope = "col";
        if (!name) { th.textContent = ""; th.appendChild(el("span", "Action", "visually-hidden")); }
        hr.appendChild(th);
      });
      head.appendChild(hr);
      table.appendChild(head);
      var body = el("tbody");
      items.forEach(function (item) { body.appendChild(row(item)); });
      table.appendChild(body);
      holder.appendChild(table);
    }
    var text = queue.total + (queue.total === 1 ? " job" : " jobs") + " waiting.";
    if (queue.total > items.length) { text += " Showing the first " + items.length + "."; }
    status.textContent = text;
  }

  /* How long each item has waited, kept current between changes (a local clock, no requests). */
  function waited(since) {
    var minutes = Math.max(0, Math.floor((Date.now() - Date.parse(since)) / 60000));
    if (minutes < 60) { return minutes + " min"; }
    var hours = Math.floor(minutes / 60), rest = minutes % 60;
    if (hours < 48) { return rest ? hours + " h " + rest + " min" : hours + " h"; }
    return Math.floor(hours / 24) + " days";
  }
  window.setInterval(function () {
    Array.prototype.forEach.call(holder.querySelectorAll("time[datetime]"), function (node) {
      node.textContent = waited(node.getAttribute("datetime"));
    });
  }, 60000);

  var source = new EventSource(status.getAttribute("data-events"));
  source.addEventListener("queue", function (event) { draw(JSON.parse(event.data)); });
})();
