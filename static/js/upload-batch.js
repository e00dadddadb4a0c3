/* The upload page with many files: chosen with the picker, dropped on the page or pasted. Each file
   is sent on its own to the images API (a bar for its bytes, a few at a time), then its background
   job is followed by polling the status endpoint until it is done, failed or cancelled. Without
   this script the form posts all files at once and the gallery shows their progress instead. */
(function () {
  "use strict";
  var form = document.querySelector("form.upload-form[data-api-upload]");
  if (!form || !window.FormData || !window.fetch) return;
  try {
    new DataTransfer(); // the only way to put dropped and pasted files into the file input
  } catch (e) {
    return;
  }

  var CONCURRENT_UPLOADS = 3; // enough to fill the line; more would only split the same bandwidth
  var POLL_MS = 1000;
  var STATUS_BATCH = 100; // the status endpoint's limit on ids per request
  var FINAL = { done: true, failed: true, cancelled: true };

  var input = form.elements.file;
  var list = form.querySelector("[data-upload-list]");
  var summary = form.querySelector("[data-upload-summary]");
  var zone = form.querySelector("[data-drop-zone]");
  var csrfToken = form.elements.csrfmiddlewaretoken.value;
  var maxBytes = Number(input.dataset.maxBytes) || 0;
  var urls = form.dataset;

  // Only now that this script runs: the drop hint and the list (the plain form has neither).
  form.querySelectorAll("[data-batch-only]").forEach(function (node) {
    node.hidden = false;
  });

  var chosen = []; // picked, not sent yet
  var items = []; // sent (or being sent) this visit
  var refused = []; // too large to send: listed, counted in the summary, never sent
  var waiting = []; // sent, waiting for an upload slot
  var uploading = 0;
  var delayed = 0; // told by the server to wait (429 with Retry-After), sent again by themselves
  var polling = false;

  // --- rows ---------------------------------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Binary units under their own names, as the server writes sizes (compression.imageio.human_bytes).
  function fileSize(bytes) {
    if (bytes < 1024) return bytes + " bytes";
    var units = ["KiB", "MiB", "GiB"];
    var i = -1;
    do {
      bytes /= 1024;
      i += 1;
    } while (bytes >= 1024 && i < units.length - 1);
    return bytes.toFixed(1) + " " + units[i];
  }

  function newRow(item) {
    var row = el("li", "upload-item");
    var head = el("div", "upload-head");
    item.nameBox = el("span", "upload-name", item.file.name);
    head.appendChild(item.nameBox);
    head.appendChild(el("span", "upload-size muted", fileSize(item.file.size)));
    row.appendChild(head);
    item.bar = el("progress", "upload-bar");
    item.bar.max = 100;
    item.bar.value = 0;
    item.bar.setAttribute("aria-label", "Progress of " + item.file.name);
    row.appendChild(item.bar);
    var foot = el("div", "upload-foot");
    item.stateBox = el("span", "upload-state");
    item.actions = el("span", "upload-actions");
    foot.appendChild(item.stateBox);
    foot.appendChild(item.actions);
    row.appendChild(foot);
    item.row = row;
    list.appendChild(row);
    return row;
  }

  function button(item, label, onClick) {
    var b = el("button", "btn btn-small", label);
    b.type = "button";
    var hidden = el("span", "sr-only", " " + item.file.name);
    b.appendChild(hidden);
    b.addEventListener("click", onClick);
    item.actions.appendChild(b);
    return b;
  }

  // state: ready | refused | waiting | uploading | queued | running | done | failed | cancelled | error.
  // The buttons are rebuilt only when the state changes (the caller adds them when this returns
  // true): a button replaced every second would lose the keyboard focus.
  function show(item, state, text, percent) {
    var changed = item.state !== state;
    item.state = state;
    item.row.dataset.state = state;
    item.stateBox.textContent = text;
    item.stateBox.classList.toggle("upload-error", state === "failed" || state === "error" || state === "refused");
    if (percent === null) {
      item.bar.removeAttribute("value"); // indeterminate: waiting on someone else
    } else if (percent !== undefined) {
      item.bar.value = percent;
    }
    if (changed) item.actions.textContent = "";
    updateSummary();
    return changed;
  }

  function linkName(item) {
    if (item.nameBox.tagName === "A") return;
    var link = el("a", "upload-name", item.file.name);
    link.href = urls.detailUrl.replace("/0/", "/" + item.id + "/");
    item.nameBox.replaceWith(link);
    item.nameBox = link;
  }

  // Every row on the list is counted once, whatever its state: the files chosen but not sent and
  // those refused before sending too (the summary once said "2 images" with 3 rows).
  function updateSummary() {
    var counts = {};
    var rows = items.concat(refused);
    rows.forEach(function (item) {
      counts[item.state] = (counts[item.state] || 0) + 1;
    });
    var parts = [];
    var add = function (n, words) {
      if (n) parts.push(n + " " + words);
    };
    add((counts.waiting || 0) + (counts.uploading || 0), "uploading");
    add((counts.queued || 0) + (counts.running || 0), "compressing");
    add(counts.done, "done");
    add(counts.failed, "failed");
    add(counts.error, "not stored");
    add(counts.cancelled, "cancelled");
    add(counts.refused, "refused before sending");
    var text = items.length ? rows.length + (rows.length === 1 ? " image: " : " images: ") + parts.join(", ") + "." : "";
    if (summary.dataset.text === text) return; // a live region: announce changes only
    summary.dataset.text = text;
    summary.textContent = text;
    if (text && !counts.waiting && !counts.uploading && !counts.queued && !counts.running && counts.done) {
      summary.appendChild(document.createTextNode(" "));
      var gallery = el("a", "", "See them in your gallery");
      gallery.href = urls.galleryUrl;
      summary.appendChild(gallery);
      summary.appendChild(document.createTextNode("."));
    }
  }

  // --- choosing files ------------------------------------------------------------------------

  function syncInput() {
    var transfer = new DataTransfer();
    chosen.forEach(function (item) {
      transfer.items.add(item.file);
    });
    input.files = transfer.files;
  }

  function sameFile(a, b) {
    return a.name === b.name && a.size === b.size && a.lastModified === b.lastModified;
  }

  function addFiles(files) {
    Array.prototype.forEach.call(files, function (file) {
      if (chosen.some(function (item) { return sameFile(item.file, file); })) return;
      var item = { file: file };
      newRow(item);
      if (maxBytes && file.size > maxBytes) {
        // The same words and units as the server's error (compression.imageio).
        refused.push(item);
        show(item, "refused", "The file is too large: " + fileSize(file.size) + "; the limit is " + fileSize(maxBytes) + ".");
        button(item, "Remove", function () {
          refused = refused.filter(function (other) { return other !== item; });
          item.row.remove();
          updateSummary();
        });
        return;
      }
      chosen.push(item);
      show(item, "ready", "Ready");
      button(item, "Remove", function () {
        chosen = chosen.filter(function (other) { return other !== item; });
        item.row.remove();
        syncInput();
      });
    });
    syncInput();
  }

  // Pasted screenshots are all called image.png: give each a name of its own.
  function named(file, index) {
    if (file.name && file.name !== "image.png") return file;
    var extension = (file.type.split("/")[1] || "png").replace("jpeg", "jpg");
    var stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
    return new File([file], "pasted-" + stamp + "-" + (index + 1) + "." + extension, { type: file.type });
  }

  input.addEventListener("change", function () {
    addFiles(input.files); // the picker replaces the input's files; the list keeps the earlier ones
  });

  function carriesFiles(event) {
    return event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types, "Files") !== -1;
  }

  // The whole page takes the drop: a file dropped beside the box would otherwise replace the page
  // (and stop the uploads in progress).
  var dragDepth = 0;
  document.addEventListener("dragenter", function (event) {
    if (!carriesFiles(event)) return;
    dragDepth += 1;
    zone.classList.add("is-dragging");
  });
  document.addEventListener("dragleave", function (event) {
    if (!carriesFiles(event)) return;
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) zone.classList.remove("is-dragging");
  });
  document.addEventListener("dragover", function (event) {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  document.addEventListener("drop", function (event) {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    dragDepth = 0;
    zone.classList.remove("is-dragging");
    addFiles(event.dataTransfer.files);
  });

  document.addEventListener("paste", function (event) {
    var files = event.clipboardData ? Array.prototype.filter.call(event.clipboardData.files, function (file) {
      return file.type.indexOf("image/") === 0;
    }) : [];
    if (!files.length) return; // text pasted into a field stays text
    event.preventDefault();
    addFiles(files.map(named));
  });

  // --- sending ---------------------------------------------------------------------------------

  function newKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b < 16 ? "0" : "") + b.toString(16); }).join("");
  }

  // The API takes the target as text (a preset's name or e.g. psnr:38), and a quality only when
  // the chosen codec has one (upload-form.js disables the field otherwise).
  function options() {
    var elements = form.elements;
    var chosenOptions = { codec: elements.codec.value };
    var target = elements.target.value;
    chosenOptions.target = target === "custom" ? elements.custom_target.value.trim() : target;
    if (!elements.quality.disabled && elements.quality.value !== "") chosenOptions.quality = elements.quality.value;
    if (elements.effort.value) chosenOptions.effort = elements.effort.value;
    if (elements.allow_duplicate && elements.allow_duplicate.checked) chosenOptions.allow_duplicate = "true";
    if (elements.storage && elements.storage.value) chosenOptions.storage = elements.storage.value;
    return chosenOptions;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault(); // before vault.js's send-once handler, which then leaves the button alone
    if (!chosen.length) return;
    // A choice that loses something for good (e.g. not keeping the original) is confirmed first.
    if (window.vaultConfirmed && !window.vaultConfirmed(form)) return;
    var sending = options();
    chosen.forEach(function (item) {
      item.key = newKey(); // a resend after a dropped connection stores the file once
      item.options = sending;
      items.push(item);
      queueUpload(item);
    });
    chosen = [];
    input.value = "";
    pump();
  });

  function queueUpload(item) {
    waiting.push(item);
    show(item, "waiting", "Waiting to upload", 0);
  }

  function pump() {
    while (uploading < CONCURRENT_UPLOADS && waiting.length) send(waiting.shift());
  }

  function send(item) {
    uploading += 1;
    show(item, "uploading", "Uploading… 0 %", 0);
    var body = new FormData();
    body.append("file", item.file, item.file.name);
    Object.keys(item.options).forEach(function (name) {
      body.append(name, item.options[name]);
    });
    var xhr = new XMLHttpRequest();
    xhr.open("POST", urls.apiUpload);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", csrfToken);
    xhr.setRequestHeader("Idempotency-Key", item.key);
    xhr.upload.onprogress = function (event) {
      if (!event.lengthComputable) return;
      var percent = Math.floor((100 * event.loaded) / event.total);
      item.bar.value = percent;
      item.stateBox.textContent = percent < 100 ? "Uploading… " + percent + " %" : "Encrypting and storing…";
    };
    var finished = function () {
      uploading -= 1;
      pump();
    };
    xhr.onload = function () {
      finished();
      var answer = parse(xhr.responseText);
      if ((xhr.status === 200 || xhr.status === 202) && answer && answer.id) {
        item.id = answer.id;
        follow(item, answer);
      } else {
        var wait = Number(xhr.getResponseHeader("Retry-After"));
        if (xhr.status === 429 && wait > 0 && wait <= 300) {
          later(item, wait, errorText(answer, xhr.status));
        } else if (xhr.status === 409 && answer && answer.existing_id) {
          duplicate(item, answer);
        } else {
          notStored(item, errorText(answer, xhr.status), xhr.status === 429 || xhr.status >= 500);
        }
      }
    };
    xhr.onerror = function () {
      finished();
      notStored(item, "The connection failed before the upload finished.", true);
    };
    xhr.send(body);
  }

  function parse(text) {
    try {
      return JSON.parse(text);
    } catch (e) {
      return null;
    }
  }

  // DRF answers {"detail": "..."} or, for a field, {"codec": ["..."]}.
  function errorText(answer, status) {
    if (answer && typeof answer.detail === "string") return answer.detail;
    if (answer && typeof answer === "object") {
      var messages = [];
      Object.keys(answer).forEach(function (field) {
        [].concat(answer[field]).forEach(function (message) {
          messages.push(field === "file" || field === "detail" || field === "non_field_errors" ? message : field + ": " + message);
        });
      });
      if (messages.length) return messages.join(" ");
    }
    if (status === 413) return "The server refused the file as too large (HTTP 413).";
    return "The server could not store the file (HTTP " + status + ").";
  }

  // The upload throttle (many files in a minute) says how long to wait: wait, then send again,
  // with the same Idempotency-Key.
  function later(item, seconds, message) {
    delayed += 1;
    show(item, "waiting", message + " Sending it again in " + seconds + " s.", 0);
    window.setTimeout(function () {
      delayed -= 1;
      queueUpload(item);
      pump();
    }, seconds * 1000);
  }

  // The same bytes are already in the vault: offer that image, or a second copy on request.
  function duplicate(item, answer) {
    show(item, "error", "Not stored: " + answer.detail);
    var link = el("a", "btn btn-small", answer.existing_in_trash ? "See it in the trash" : "Open the one you have");
    link.href = answer.existing_in_trash ? urls.trashUrl : urls.detailUrl.replace("/0/", "/" + answer.existing_id + "/");
    item.actions.appendChild(link);
    button(item, "Keep both", function () {
      item.options = Object.assign({}, item.options, { allow_duplicate: "true" });
      item.key = newKey(); // a new request, not a resend of the refused one
      queueUpload(item);
      pump();
    });
  }

  function notStored(item, message, canResend) {
    show(item, "error", "Not stored: " + message);
    if (canResend) button(item, "Try again", function () { queueUpload(item); pump(); });
  }

  // --- following the jobs ----------------------------------------------------------------------

  function follow(item, record) {
    linkName(item);
    update(item, record);
    if (!FINAL[record.status] && !polling) {
      polling = true;
      window.setTimeout(poll, POLL_MS);
    }
  }

  function update(item, record) {
    var status = record.status;
    var cancel = function () { act(item, urls.apiCancel); };
    var retry = function () { act(item, urls.apiRetry); };
    if (status === "queued") {
      var waitText = record.queue_position && window.vaultQueuePlace ? window.vaultQueuePlace(record) : (record.stage || "waiting for a worker");
      if (show(item, "queued", "Stored; " + waitText, null)) button(item, "Cancel", cancel);
    } else if (status === "running") {
      var text = "Compressing: " + (record.stage || "working") + " · " + record.progress + " %";
      if (show(item, "running", text, record.progress)) button(item, "Cancel", cancel);
    } else if (status === "done") {
      var figures = [record.codec];
      if (record.stored_bytes) {
        var share = record.stored_percent === null || record.stored_percent === undefined ? "" : " (" + Math.round(record.stored_percent) + " % of the upload)";
        figures.push("stored " + fileSize(record.stored_bytes) + share);
      }
      if (record.storage === "saver") figures.push("original not kept");
      show(item, "done", "Done · " + figures.filter(Boolean).join(" · "), 100);
    } else if (status === "failed") {
      if (show(item, "failed", "Failed: " + (record.error || "no reason was recorded."))) button(item, "Retry", retry);
    } else if (status === "cancelled") {
      if (show(item, "cancelled", "Cancelled; the original is kept.")) button(item, "Retry", retry);
    }
  }

  // Cancel or retry one job through the API; the answer is the record in its new state.
  function act(item, template) {
    item.actions.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    fetch(template.replace("/0/", "/" + item.id + "/"), {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken },
    }).then(function (response) {
      return response.text().then(function (text) {
        var answer = parse(text);
        if (response.ok && answer) {
          follow(item, answer);
          item.actions.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
        } else {
          item.stateBox.textContent = errorText(answer, response.status);
          item.actions.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
        }
      });
    }, function () {
      item.stateBox.textContent = "The connection failed; try again.";
      item.actions.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
    });
  }

  function poll() {
    var open = items.filter(function (item) { return item.id && (item.state === "queued" || item.state === "running"); });
    if (!open.length) {
      polling = false;
      return;
    }
    var requests = [];
    for (var start = 0; start < open.length; start += STATUS_BATCH) {
      requests.push(pollBatch(open.slice(start, start + STATUS_BATCH)));
    }
    Promise.all(requests).then(function (results) {
      if (results.indexOf("stop") !== -1) {
        polling = false;
        summary.textContent = "Your session has ended, so progress is no longer shown here. Log in again and open your gallery.";
        summary.dataset.text = "";
        return;
      }
      window.setTimeout(poll, POLL_MS);
    });
  }

  function pollBatch(batch) {
    var ids = batch.map(function (item) { return item.id; });
    return fetch(urls.apiStatus + "?ids=" + ids.join(","), {
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" },
    }).then(function (response) {
      if (response.status === 401 || response.status === 403) return "stop";
      if (!response.ok) return "again"; // a busy server: the next round asks again
      return response.json().then(function (records) {
        var byId = {};
        records.forEach(function (record) { byId[record.id] = record; });
        batch.forEach(function (item) {
          var record = byId[item.id];
          if (record) {
            if (item.state === "queued" || item.state === "running") update(item, record);
          } else {
            show(item, "failed", "This image is no longer in your vault (deleted elsewhere?).");
          }
        });
        return "again";
      });
    }, function () {
      return "again";
    });
  }

  // Leaving while bytes are still on their way would lose those files; stored ones carry on.
  window.addEventListener("beforeunload", function (event) {
    if (uploading || waiting.length || delayed) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // If the browser kept files in the input (Back, or a re-rendered form), list them.
  if (input.files && input.files.length) addFiles(input.files);
})();
