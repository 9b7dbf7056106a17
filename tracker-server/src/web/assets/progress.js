// Casenote Tracker batch printing: poll the batch's progress (JSON) until it has finished.
(function () {
  "use strict";
  var box = document.getElementById("batch");
  if (!box) return;
  var url = box.getAttribute("data-progress");
  var bar = document.getElementById("batch-progress");
  var status = document.getElementById("batch-status");
  function poll() {
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then(function (b) {
        bar.max = Math.max(b.total, 1);
        bar.value = b.done + b.failed;
        bar.textContent = b.done + " of " + b.total;
        var text = b.done + " of " + b.total + " sent, " + b.failed + " failed (" + b.status + ").";
        if (b.status !== "running") {
          text += b.failed > 0 ? " Some labels were not printed: retry them from the labels page." : " All done.";
          status.textContent = text;
          box.classList.add(b.failed > 0 ? "failed" : "finished");
          return;
        }
        status.textContent = text;
        window.setTimeout(poll, 700);
      })
      .catch(function () { status.textContent = "Progress not available; retrying..."; window.setTimeout(poll, 3000); });
  }
  poll();
})();
