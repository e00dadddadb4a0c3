/* The gallery and an image's page follow the background jobs they show: every second the status
   endpoint gives each queued or running image's progress and stage. When a job ends, the gallery
   takes that image's new markup from a fresh copy of the page (so the server renders it, as on a
   reload) and an image's page reloads. Without this script the pages show the state they were
   rendered with. */
(function () {
  "use strict";
  var root = document.querySelector("[data-job-status-url]");
  if (!root) return;
  var statusUrl = root.dataset.jobStatusUrl;
  var POLL_MS = 1000;
  var FINAL = { done: true, failed: true, cancelled: true };
  var edited = false; // something typed on the page: a reload would lose it

  document.addEventListener("input", function () { edited = true; });

  function watched() {
    return Array.prototype.filter.call(document.querySelectorAll("[data-job-id]"), function (node) {
      return !FINAL[node.dataset.jobStatus];
    });
  }

  function poll() {
    var nodes = watched();
    if (!nodes.length) return;
    var ids = [];
    nodes.forEach(function (node) {
      if (ids.indexOf(node.dataset.jobId) === -1) ids.push(node.dataset.jobId);
    });
    fetch(statusUrl + "?ids=" + ids.slice(0, 100).join(","), {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      if (response.status === 401 || response.status === 403) return null; // logged out: stop
      if (!response.ok) return [];
      return response.json();
    }, function () {
      return []; // offline for a moment: ask again next round
    }).then(function (records) {
      if (records === null) return;
      var ended = [];
      records.forEach(function (record) {
        nodes.forEach(function (node) {
          if (node.dataset.jobId !== String(record.id)) return;
          show(node, record);
          if (FINAL[record.status]) ended.push(node);
        });
      });
      if (ended.length) refresh(ended);
      window.setTimeout(poll, POLL_MS);
    });
  }

  function show(node, record) {
    node.dataset.jobStatus = record.status;
    var bar = node.querySelector(".job-bar");
    var stage = node.querySelector(".job-stage");
    if (bar) {
      if (record.status === "queued") bar.removeAttribute("value");
      else bar.value = record.progress;
      bar.textContent = record.progress + " %";
    }
    if (stage) {
      var words = { queued: "Queued", running: "Compressing", done: "Done", failed: "Failed", cancelled: "Cancelled" }[record.status];
      var detail = record.status === "queued" && record.queue_position && window.vaultQueuePlace ? window.vaultQueuePlace(record) : record.stage;
      stage.textContent = words + (detail ? ": " + detail : "") + (record.status === "running" ? " · " + record.progress + " %" : "");
    }
  }


  function refresh(nodes) {
    if (root.dataset.jobRefresh === "reload") {
      var note = root.querySelector(".job-finished");
      if (!edited) {
        window.location.reload();
      } else if (note) {
        note.hidden = false;
      }
      return;
    }
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        nodes.forEach(function (node) {
          var tag = node.tagName.toLowerCase();
          var replacement = fresh.querySelector(tag + '[data-job-id="' + node.dataset.jobId + '"]');
          if (!replacement) return; // sorted off this page: its stage already says how it ended
          var box = node.querySelector("input[name=ids]");
          var newBox = replacement.querySelector("input[name=ids]");
          if (box && newBox) newBox.checked = box.checked;
          node.replaceWith(document.importNode(replacement, true));
        });
      })
      .catch(function () {});
  }

  window.setTimeout(poll, POLL_MS);
})();
