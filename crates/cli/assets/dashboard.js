// Live updates: the server-sent events of the event log; each new event refreshes the live
// part of the page (rendered by the server, in this page's language). Actions send the
// person's token in a header, which a cross-site form cannot do.
(function () {
  "use strict";
  var body = document.body;
  var lang = body.dataset.lang;
  var live = document.getElementById("live");
  var list = document.getElementById("events");
  var pending = null;
  function refresh() {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      fetch("/fragment?lang=" + encodeURIComponent(lang), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { live.innerHTML = html; })
        .catch(function () {});
    }, 150);
  }
  function bdi(text, dir) {
    var b = document.createElement("bdi");
    b.dir = dir || "ltr";
    b.textContent = text;
    return b;
  }
  function show(ev) {
    var first = list.querySelector("li.muted");
    if (first) first.remove();
    var li = document.createElement("li");
    li.className = ev.severity;
    li.dataset.seq = ev.seq;
    li.dataset.kind = ev.kind;
    li.appendChild(bdi("#" + ev.seq + " " + ev.at));
    li.appendChild(document.createTextNode(" "));
    li.appendChild(bdi(ev.text, ev.dir));
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 200) list.removeChild(list.lastChild);
  }
  var source = new EventSource("/events?after=" + encodeURIComponent(body.dataset.after) + "&lang=" + encodeURIComponent(lang));
  source.onmessage = function (m) {
    try { show(JSON.parse(m.data)); } catch (e) { return; }
    refresh();
  };
  // Probe values and the guard's liveness change without an event: a slow refresh too.
  setInterval(refresh, 5000);
  var result = document.getElementById("action-result");
  function act(url, params) {
    var token = document.getElementById("token").value;
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-Ripcord-Token": token, "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(params).toString()
    }).then(function (r) {
      return r.text().then(function (t) { result.textContent = t; result.className = r.ok ? "good" : "bad"; refresh(); });
    });
  }
  document.getElementById("stop-form").addEventListener("submit", function (e) {
    e.preventDefault();
    act("/api/stop?lang=" + lang, {
      reason: document.getElementById("reason").value,
      confirm: document.getElementById("confirm").checked ? "yes" : ""
    });
  });
  live.addEventListener("click", function (e) {
    var a = e.target.closest("button.ack");
    if (a) {
      act("/api/incidents/" + encodeURIComponent(a.dataset.incident) + "/ack?lang=" + lang, { level: a.dataset.level });
      return;
    }
    var b = e.target.closest("button.answer");
    if (!b) return;
    act("/api/decisions/" + encodeURIComponent(b.dataset.decision) + "/" + b.dataset.answer + "?lang=" + lang, {});
  });
})();
