// Casenote Tracker scanning pages. A keyboard-wedge scanner types into the focused field and
// presses Enter; each scan is sent once with a UUID made here, so a retry is never doubled.
(function () {
  "use strict";
  // Any button marked data-print prints the page (print CSS hides the menu and forms).
  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
})();
(function () {
  "use strict";
  var form = document.getElementById("scan-form");
  if (!form) return;
  var input = document.getElementById("scan-input");
  var feedback = document.getElementById("feedback");
  var log = document.getElementById("log");
  var here = document.getElementById("here");
  var csrf = form.getAttribute("data-csrf");
  var mode = form.getAttribute("data-mode");
  var state = { location: form.getAttribute("data-location") || null, staff: null };
  var audio = null;

  function beep(ok) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = ok ? 880 : 220; o.type = ok ? "sine" : "square";
      g.gain.value = 0.08; o.connect(g); g.connect(audio.destination);
      o.start(); o.stop(audio.currentTime + (ok ? 0.12 : 0.4));
    } catch (e) { /* no sound available */ }
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = new Uint8Array(16); crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }
  function show(level, text) {
    feedback.className = level; feedback.textContent = text;
    var li = document.createElement("li"); li.className = level;
    li.textContent = new Date().toLocaleTimeString() + "  " + text;
    log.insertBefore(li, log.firstChild);
    beep(level === "ok");
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var raw = input.value; input.value = "";
    if (!raw.trim()) return;
    var dest = document.getElementById("destination");
    var body = { event_id: uuid(), raw: raw, mode: mode, location: state.location, staff: state.staff,
                 destination: dest ? dest.value : null };
    fetch("/web/scan", { method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf }, body: JSON.stringify(body) })
      .then(function (r) { return r.json(); })
      .then(function (res) {
        if (res.kind === "location") { state.location = res.code; here.textContent = res.name + " (" + res.code + ")"; }
        if (res.kind === "staff") { state.staff = res.badge; }
        show(res.level, res.message);
      })
      .catch(function () { show("error", "Not sent: the server could not be reached. Scan again when the connection is back."); })
      .then(function () { input.focus(); });
  });
  input.focus();
})();
