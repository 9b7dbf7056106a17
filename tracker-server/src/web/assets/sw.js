// Casenote Tracker service worker: lets the scan page load and take scans with no network.
// Only the scan pages and the static files are kept; no other page (none of them can hold
// patient details) is ever cached. Scans themselves are kept by the page in IndexedDB.
"use strict";
var CACHE = "casenote-scan-v1";
var SHELL = ["/scan?mode=porter", "/static/app.js", "/static/app.css", "/manifest.webmanifest",
  "/static/icon.svg", "/static/icon-192.png", "/static/icon-512.png"];

self.addEventListener("install", function (ev) {
  ev.waitUntil(caches.open(CACHE).then(function (c) {
    // each on its own: a page that needs a sign-in first is simply not kept yet
    return Promise.all(SHELL.map(function (u) {
      return fetch(u, { credentials: "same-origin", redirect: "manual" }).then(function (r) {
        if (r.ok && r.type === "basic") return c.put(u, r);
      }).catch(function () {});
    }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (ev) {
  ev.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k !== CACHE; }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});

function scanPage(url) { return url.origin === self.location.origin && url.pathname === "/scan"; }
function staticFile(url) {
  return url.origin === self.location.origin &&
    (url.pathname.indexOf("/static/") === 0 || url.pathname === "/manifest.webmanifest");
}

self.addEventListener("fetch", function (ev) {
  var req = ev.request;
  if (req.method !== "GET") return;
  var url = new URL(req.url);
  if (scanPage(url)) {
    // network first; the last good copy when there is no network
    ev.respondWith(fetch(req).then(function (r) {
      if (r.ok && !r.redirected) {
        var copy = r.clone();
        caches.open(CACHE).then(function (c) { c.put(req, copy); });
      }
      return r;
    }).catch(function () {
      return caches.match(req).then(function (hit) {
        return hit || caches.match("/scan?mode=porter");
      });
    }));
  } else if (staticFile(url)) {
    ev.respondWith(fetch(req).then(function (r) {
      if (r.ok) { var copy = r.clone(); caches.open(CACHE).then(function (c) { c.put(req, copy); }); }
      return r;
    }).catch(function () { return caches.match(req); }));
  }
});
