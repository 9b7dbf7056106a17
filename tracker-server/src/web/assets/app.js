// Casenote Tracker scanning pages. A keyboard-wedge scanner types into the focused field and
// presses Enter; each scan is sent once with a UUID made here, so a retry is never doubled.
(function () {
  "use strict";
  // Any button marked data-print prints the page (print CSS hides the menu and forms).
  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
})();
// The scan page. Every scan is decided here the moment it is read:
// - location cards and badges take effect at once (the page knows their formats, the places
//   and the known badges), so a folder scanned 30 ms after a card goes to that card's place;
// - every folder scan gets its event id (UUID version 7) here and is stored in the browser
//   (IndexedDB) before anything else; a queue sends the stored scans in order, and the
//   server's idempotency makes delivery exactly once, through outages and expired sessions;
// - keystrokes that come as a scanner types them (a few ms apart, ending in Enter) go to the
//   scan box wherever the focus is, and a scanner's Enter never presses a button or a link.
(function () {
  "use strict";
  var form = document.getElementById("scan-form");
  if (!form) return;
  var input = document.getElementById("scan-input");
  var feedback = document.getElementById("feedback");
  var log = document.getElementById("log");
  var here = document.getElementById("here");
  var waitingEl = document.getElementById("waiting");
  var csrf = form.getAttribute("data-csrf");
  var mode = form.getAttribute("data-mode");
  var me = form.getAttribute("data-user");
  var cfg = JSON.parse(form.getAttribute("data-config") || "{}");
  var state = { location: form.getAttribute("data-location") || null, staff: null, container: null };
  var containerEl = document.getElementById("container");
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
  function show(level, text) {
    feedback.className = level; feedback.textContent = text;
    var li = document.createElement("li"); li.className = level;
    li.textContent = new Date().toLocaleTimeString() + "  " + text;
    log.insertBefore(li, log.firstChild);
    beep(level === "ok");
  }

  // ---- identifiers, as casenote-core defines them ----
  var ALPHA = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  // ISO/IEC 7064 MOD 37,36 check character (folder ids, location cards, badges).
  function mod37(data) {
    var m = 36, p = m;
    for (var i = 0; i < data.length; i++) {
      var v = ALPHA.indexOf(data.charAt(i));
      if (v < 0) return null;
      var t = (p + v) % m; if (t === 0) t = m;
      p = (t * 2) % (m + 1);
    }
    return ALPHA.charAt((m + 1 - p) % m);
  }
  function gs1Check(digits) {
    var sum = 0;
    for (var i = digits.length - 1, w = 3; i >= 0; i--, w = 4 - w) sum += w * (+digits.charAt(i));
    return (10 - sum % 10) % 10;
  }
  function stripAim(raw) { return /^\][A-Za-z][0-9A-Za-z]/.test(raw) ? raw.slice(3) : raw; }
  // A card: code, "/", check character. null = not a card of this kind.
  function card(data, prefix) {
    var i = data.lastIndexOf("/");
    if (i < 0) return null;
    var code = data.slice(0, i), chk = data.slice(i + 1);
    if (chk.length !== 1 || code.indexOf(prefix) !== 0 || code.length <= prefix.length ||
        code.length < 2 || code.length > 20 || !/^[A-Z0-9]+$/.test(code)) return null;
    return mod37(code) === chk ? { code: code } : { bad: true };
  }
  function place(code) {
    var l = cfg.locations || [];
    for (var i = 0; i < l.length; i++) if (l[i].code === code || l[i].gln === code) return l[i];
    return null;
  }
  // What a scan is: location, staff, folder (sent to the server) or an error said at once.
  function classify(raw) {
    var data = stripAim(raw.replace(/[\r\n]+$/, "")).trim().toUpperCase();
    var gs = data.replace(/^\u001d/, "");
    var gln = /^\(414\)(\d{13})/.exec(gs) || (/^\]/.test(raw) && /^414(\d{13})/.exec(gs));
    if (gln) {
      if (gs1Check(gln[1].slice(0, 12)) !== +gln[1].charAt(12)) return { kind: "error", message: "Location card misread (check digit): scan it again." };
      var g = place(gln[1]);
      return g ? { kind: "location", place: g } : { kind: "error", message: "Unknown location card (GLN " + gln[1] + "): it is not registered." };
    }
    var c = card(data, cfg.location_prefix || "L");
    if (c && c.bad) return { kind: "error", message: "Location card misread (check character): scan it again." };
    if (c) {
      var p = place(c.code);
      return p ? { kind: "location", place: p } : { kind: "error", message: "Unknown location card " + c.code + ": it is not registered." };
    }
    c = card(data, cfg.staff_prefix || "S");
    if (c && c.bad) return { kind: "error", message: "Badge misread (check character): scan it again." };
    if (c) {
      return (cfg.badges || []).indexOf(c.code) >= 0 ? { kind: "staff", badge: c.code }
        : { kind: "error", message: "Badge " + c.code + " is not registered: ask the records team to print you a badge." };
    }
    var fp = cfg.folder_prefix || "F", fd = cfg.folder_digits || 9;
    var folder = new RegExp("^" + fp + "\\d{" + fd + "}[0-9A-Z]$");
    if (folder.test(data)) {
      return mod37(data.slice(0, -1)) === data.slice(-1) ? { kind: "folder" }
        : { kind: "error", message: "Folder label misread (check character): scan it again." };
    }
    // A container (trolley, bag, crate): its GRAI (AI 8003) label or GRAI-96 tag (header 0x33).
    if (/^\(8003\)\d{14}/.test(data) || (/^\](C1|d2|Q3)/.test(raw) && /^8003\d{14}/.test(gs)) ||
        /^33[0-9A-F]{22}$/.test(data)) return { kind: "container" };
    // GS1 element strings and RFID EPCs are folders or not as the server decides.
    if (/^\]/.test(raw) || /^\(/.test(data) || /^[0-9A-F]{24}$/.test(data)) return { kind: "folder" };
    return { kind: "error", message: "Not a case-note barcode: not a folder, location card or staff badge." };
  }

  // ---- UUID version 7: 48-bit ms time, version, random ----
  var lastMs = 0, seq = 0;
  function uuid7() {
    var b = new Uint8Array(16); crypto.getRandomValues(b);
    var ms = Date.now();
    if (ms <= lastMs) { seq++; ms = lastMs; } else { seq = 0; lastMs = ms; }
    for (var i = 5; i >= 0; i--) { b[i] = ms % 256; ms = Math.floor(ms / 256); }
    b[6] = 0x70 | ((seq >> 8) & 0x0f); b[7] = seq & 0xff; // keeps order within one ms
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // ---- the browser's durable queue ----
  var memory = []; // only if IndexedDB is unavailable (then the page says so)
  var dbp = new Promise(function (resolve) {
    try {
      var r = indexedDB.open("casenote-scans", 1);
      r.onupgradeneeded = function () { r.result.createObjectStore("queue", { keyPath: "event_id" }); };
      r.onsuccess = function () { resolve(r.result); };
      r.onerror = function () { resolve(null); };
    } catch (e) { resolve(null); }
  });
  function tx(store, modeRW, fn) {
    return dbp.then(function (db) {
      if (!db) return fn(null);
      return new Promise(function (resolve, reject) {
        var t = db.transaction(store, modeRW), out = fn(t.objectStore(store));
        t.oncomplete = function () { resolve(out && out.result !== undefined ? out.result : out); };
        t.onerror = function () { reject(t.error); };
        t.onabort = function () { reject(t.error); };
      });
    });
  }
  function put(item) { return tx("queue", "readwrite", function (s) { if (!s) { memory.push(item); return null; } return s.put(item); }); }
  function del(id) { return tx("queue", "readwrite", function (s) { if (!s) { memory = memory.filter(function (i) { return i.event_id !== id; }); return null; } return s.delete(id); }); }
  function all() {
    return tx("queue", "readonly", function (s) { return s ? s.getAll() : null; })
      .then(function (items) { return (items || memory.slice()).sort(function (a, b) { return a.event_id < b.event_id ? -1 : 1; }); });
  }

  var sending = false, delay = 1000, blocked = null;
  function showWaiting(items) {
    var mine = items.filter(function (i) { return i.user === me; }).length;
    var others = items.length - mine;
    var text = "";
    if (blocked === "signin" && mine) {
      text = "Sign in again: " + mine + (mine === 1 ? " scan" : " scans") + " waiting on this device.";
    } else if (mine) {
      text = mine + (mine === 1 ? " scan" : " scans") + " waiting to be sent" + (blocked === "offline" ? " (no connection: they are kept on this device and sent when it is back)." : ".");
    }
    if (others) text += (text ? " " : "") + others + " scans of another user wait for them to sign in on this device.";
    waitingEl.hidden = !text;
    waitingEl.textContent = text;
    if (blocked === "signin" && mine) {
      var a = document.createElement("a");
      a.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      a.textContent = " Sign in";
      waitingEl.appendChild(a);
    }
    form.setAttribute("data-waiting", String(mine));
  }
  function refresh() { return all().then(showWaiting); }
  function pump() {
    if (sending) return;
    sending = true;
    all().then(function (items) {
      showWaiting(items);
      var next = items.filter(function (i) { return i.user === me; })[0];
      if (!next) { sending = false; return; }
      return fetch("/web/scan", { method: "POST", credentials: "same-origin",
        headers: { "content-type": "application/json", "x-csrf-token": csrf },
        body: JSON.stringify(next) })
        .then(function (r) {
          // an expired session is sent to the sign-in page; a stale page gets 403
          if (r.status === 401 || r.status === 403 || (r.redirected && /\/login/.test(r.url))) { blocked = "signin"; throw "stop"; }
          if (!r.ok) { throw "retry"; }
          return r.json();
        })
        .then(function (res) {
          blocked = null; delay = 1000;
          return del(next.event_id).then(function () {
            show(res.level, res.message);
            if (res.kind === "confirm") ask(next, res);
            if (res.url) auditResult(res);
            if (res.kind === "container" && containerEl && state.container === next.raw) containerEl.textContent = res.name;
            // a container the server refused is not being loaded
            if (res.level === "error" && state.container && state.container === next.raw) {
              state.container = null;
              if (containerEl) containerEl.textContent = "none";
            }
            sending = false; pump();
          });
        });
    }).catch(function (why) {
      sending = false;
      if (why !== "stop") { blocked = "offline"; setTimeout(pump, delay); delay = Math.min(delay * 2, 15000); }
      refresh();
    });
  }

  // A requested folder scanned for another place: the clerk chooses, with a click (a scanner's
  // Enter never answers this).
  var confirmBox = document.getElementById("confirm");
  function ask(item, res) {
    var a = document.getElementById("confirm-request"), b = document.getElementById("confirm-chosen");
    document.getElementById("confirm-text").textContent = res.message;
    a.textContent = "Send to " + res.request_destination_name + " (" + res.request_destination + ")";
    b.textContent = "Send to " + res.chosen + " anyway";
    function choose(to) {
      confirmBox.hidden = true; a.onclick = b.onclick = null;
      item.destination = to; item.confirmed = true;
      put(item).then(pump);
      input.focus();
    }
    a.onclick = function () { choose(res.request_destination); };
    b.onclick = function () { choose(res.chosen); };
    confirmBox.hidden = false;
  }

  // Shelf audit: the shelf card opens (or joins) the shelf's audit and Close audit closes it;
  // both go through the queue with the folder scans, so they reach the server in the order
  // they were made, however long the network is away.
  var auditOut = document.getElementById("audit-result");
  function auditResult(res) {
    if (!auditOut) return;
    auditOut.textContent = res.message + " ";
    var a = document.createElement("a");
    a.href = res.url;
    a.textContent = res.kind === "audit-closed" ? "See the result of audit " + res.audit_id : "See audit " + res.audit_id + " so far";
    auditOut.appendChild(a);
    auditOut.hidden = false;
  }
  function queueFailed() { show("error", "Not saved on this device (storage full?): scan again."); }
  function auditStep(step, raw) {
    put({ event_id: uuid7(), user: me, raw: raw, mode: mode, audit: step, location: state.location,
          staff: state.staff, scanned_at: Date.now() }).then(pump, queueFailed);
  }
  var closeButton = document.getElementById("audit-close");
  if (closeButton) {
    closeButton.addEventListener("click", function () {
      if (!state.location) { show("error", "Scan the shelf or bay card first."); input.focus(); return; }
      var shelf = state.location;
      auditStep("close", "");
      state.location = null;
      here.textContent = "none yet - scan the shelf or bay card";
      show("ok", "Closing the audit of " + shelf + ". Scan another shelf card to audit the next shelf.");
      input.focus();
    });
  }

  function scan(raw) {
    if (!raw.trim()) return;
    var c = classify(raw);
    if (c.kind === "location" && mode === "audit") {
      state.location = c.place.code;
      here.textContent = c.place.name + " (" + c.place.code + ")";
      auditStep("open", raw);
      show("ok", "Shelf " + c.place.name + " (" + c.place.code + "): audit started. Scan each folder on the shelf.");
      return;
    }
    if (c.kind === "location") {
      // a location card ends loading onto a container
      state.container = null;
      if (containerEl) containerEl.textContent = "none";
      state.location = c.place.code;
      here.textContent = c.place.name + " (" + c.place.code + ")";
      show("ok", "Location set: " + c.place.name + " (" + c.place.code + ")");
      return;
    }
    if (c.kind === "staff") { state.staff = c.badge; show("ok", "Badge " + c.badge + " recorded for the next scans"); return; }
    if (c.kind === "error") { show("error", c.message); return; }
    var dest = document.getElementById("destination");
    if (c.kind === "container" && mode === "audit") { show("error", "That is a trolley, bag or crate label: a shelf audit counts folders. Scan the folders on the shelf."); return; }
    if (c.kind === "container") {
      // On the porter's page the next folders scanned go onto it; with a place known it is
      // recorded there too. At the library desk it is only recorded (dispatched, received).
      if (mode === "porter") {
        state.container = raw;
        if (containerEl) containerEl.textContent = "container scanned, loading";
      }
      put({ event_id: uuid7(), user: me, raw: raw, mode: mode, location: state.location,
            staff: state.staff, destination: dest ? dest.value : null, scanned_at: Date.now() })
        .then(pump, queueFailed);
      return;
    }
    if (!state.location) { show("error", mode === "audit" ? "Scan the shelf or bay card first, so we know which shelf you are auditing." : "Scan a location card first, so we know where this folder is."); return; }
    var item = { event_id: uuid7(), user: me, raw: raw, mode: mode, location: state.location,
                 staff: state.staff, destination: dest ? dest.value : null, scanned_at: Date.now(),
                 container: mode === "porter" ? state.container : null };
    put(item).then(pump, queueFailed);
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var raw = input.value; input.value = "";
    scan(raw);
    input.focus();
  });

  // Keystrokes typed as a scanner types them go to the scan box wherever the focus is.
  var burst = "", lastKey = 0;
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (t === input || ev.ctrlKey || ev.altKey || ev.metaKey) return;
    var typing = t && (t.tagName === "TEXTAREA" || (t.tagName === "INPUT" && !/^(button|submit|checkbox|radio)$/i.test(t.type)));
    if (typing) return;
    var now = Date.now();
    if (ev.key === "Enter") {
      if (burst && now - lastKey < 200) { ev.preventDefault(); ev.stopPropagation(); var raw = burst; burst = ""; scan(raw); input.focus(); }
      return;
    }
    if (ev.key.length === 1) {
      ev.preventDefault(); ev.stopPropagation();
      if (now - lastKey > 200) burst = "";
      burst += ev.key; lastKey = now;
    }
  }, true);

  window.addEventListener("online", pump);
  setInterval(pump, 5000);
  if ("serviceWorker" in navigator) { navigator.serviceWorker.register("/sw.js").catch(function () {}); }
  pump();
  input.focus();
})();
