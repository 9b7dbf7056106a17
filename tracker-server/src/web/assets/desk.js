// Casenote Tracker library desk: live queue. New requests and every change of state arrive as
// server-sent events
// (/web/desk/stream, signed in by the session cookie); each new row is fetched already
// rendered (and escaped) by the server and put in due order. Overdue rows turn red, from the
// server's overdue events and from a clock check here, without reloading the page.
(function () {
  "use strict";
  var table = document.getElementById("desk-queue");
  if (!table || !window.EventSource) return;
  var tbody = table.tBodies[0];
  var live = document.getElementById("live");
  var announce = document.getElementById("announce");
  var count = document.getElementById("desk-count");
  var overdueCount = document.getElementById("desk-overdue");

  function rows() { return Array.prototype.slice.call(tbody.rows); }
  function recount() {
    var all = rows();
    count.textContent = String(all.length);
    overdueCount.textContent = String(all.filter(function (r) { return r.classList.contains("overdue"); }).length);
  }
  function due(row) { return Date.parse(row.getAttribute("data-due")) || 0; }
  function markOverdue(row) {
    if (!row.classList.contains("overdue")) { row.classList.add("overdue"); recount(); }
  }
  function checkClock() {
    var now = Date.now();
    rows().forEach(function (r) { if (due(r) && due(r) < now) markOverdue(r); });
  }
  function say(text) { announce.textContent = text; }
  function setLive(ok) {
    live.className = ok ? "tag ok" : "tag warn";
    live.textContent = ok ? "Live" : "Reconnecting...";
  }
  function place(row) {
    var old = document.getElementById(row.id);
    if (old) { old.parentNode.replaceChild(row, old); return; }
    var d = due(row), before = null;
    rows().some(function (r) { if (due(r) > d) { before = r; return true; } return false; });
    tbody.insertBefore(row, before);
  }
  function fetchRow(id, isNew) {
    return fetch("/web/desk/rows/" + encodeURIComponent(id), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.text(); })
      .then(function (html) {
        var holder = document.createElement("tbody");
        holder.innerHTML = html;
        var row = holder.querySelector("tr");
        if (!row) return;
        if (isNew) row.classList.add("new");
        place(row);
        recount();
        checkClock();
      });
  }
  function data(ev) { try { return JSON.parse(ev.data); } catch (e) { return {}; } }

  var source = new EventSource("/web/desk/stream");
  source.onopen = function () { setLive(true); };
  source.onerror = function () { setLive(false); };
  source.addEventListener("request.new", function (ev) {
    var d = data(ev);
    fetchRow(d.request_id, true).then(function () {
      say("New " + d.urgency + " request " + d.request_id + " for " + d.destination + ".");
    }).catch(function () { say("A new request arrived; reload the page to see it."); });
  });
  source.addEventListener("request.rerouted", function (ev) {
    var d = data(ev);
    fetchRow(d.request_id, false).catch(function () {});
    say("Request " + d.request_id + " now goes to " + d.destination + ".");
  });
  // Any change of state (located, pulled, dispatched, received, cancelled...), by anyone:
  // the row is fetched again, or taken off the queue when the request is no longer open.
  source.addEventListener("request.changed", function (ev) {
    var d = data(ev);
    var row = document.getElementById("req-" + d.request_id);
    if (!d.open) {
      if (row) { row.parentNode.removeChild(row); recount(); }
      say("Request " + d.request_id + " is " + d.state + ": off the queue.");
      return;
    }
    fetchRow(d.request_id, false).then(function () {
      say("Request " + d.request_id + " is now " + d.state + ".");
    }).catch(function () {});
  });
  source.addEventListener("request.overdue", function (ev) {
    var d = data(ev);
    var row = document.getElementById("req-" + d.request_id);
    if (row) markOverdue(row);
    say("Request " + d.request_id + " is overdue.");
  });
  source.addEventListener("lagged", function () { window.location.reload(); });
  checkClock();
  window.setInterval(checkClock, 15000);
})();
