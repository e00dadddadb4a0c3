/* The portal's shared script: copy buttons, the share key from a link's fragment, and forms that
   send once. Everything works without it; it only reveals the elements marked .js-only.
   (The compare view has its own script, compare.js.) */
(function () {
  "use strict";

  document.querySelectorAll(".js-only[hidden]").forEach(function (el) {
    el.hidden = false;
  });

  document.querySelectorAll(".js-only[data-copy-target]").forEach(function (button) {  // profile.js has its own
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy-target"));
      if (!source) return;
      var text = source.textContent.trim();
      var done = function (ok) {
        var label = button.textContent;
        button.textContent = ok ? "Copied" : "Select and copy manually";
        setTimeout(function () { button.textContent = label; }, 2000);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
      } else {
        // Plain-HTTP development servers have no clipboard API; fall back to a selection copy.
        var range = document.createRange();
        range.selectNodeContents(source);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
        done(ok);
      }
    });
  });

  // A share link carries its key in the fragment (never sent to the server); copy it into the
  // form so the person only has to press a button, and drop it from the address bar.
  var shareKey = document.querySelector("form input[name=key]");
  if (shareKey && window.location.hash.length > 1 && !shareKey.value) {
    shareKey.value = decodeURIComponent(window.location.hash.slice(1));
    history.replaceState(null, "", window.location.pathname + window.location.search);
    // The share page opens the image at once: the link is the person's intent, and a wrong or
    // revoked one then says so on arrival rather than after a click.
    var opener = shareKey.form;
    if (opener && opener.hasAttribute("data-auto-submit")) opener.requestSubmit ? opener.requestSubmit() : opener.submit();
  }

  // The shared image: fitted to the screen, or at full size in a box that scrolls (the button or
  // a click on the picture); without this script the picture links to itself at full size.
  document.querySelectorAll(".share-figure").forEach(function (figure) {
    var button = figure.querySelector(".share-zoom");
    var link = figure.querySelector(".share-picture");
    var toggle = function (event) {
      if (event) event.preventDefault();
      var full = figure.dataset.zoom !== "full";
      figure.dataset.zoom = full ? "full" : "fit";
      if (button) {
        button.setAttribute("aria-pressed", String(full));
        button.textContent = full ? "Fit to screen" : "Full size";
      }
    };
    if (button) button.addEventListener("click", function () { toggle(); });
    if (link) link.addEventListener("click", toggle);
  });

  // Controls that act at once: a sort order applies when chosen, so its "Apply" button goes.
  document.querySelectorAll(".js-hide").forEach(function (el) { el.hidden = true; });
  document.querySelectorAll("select[data-submit-on-change]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // Actions on a selection show once something is selected, with how many.
  document.querySelectorAll("[data-selection-actions]").forEach(function (actions) {
    var form = actions.closest("form");
    var count = actions.querySelector("[data-selection-count]");
    var update = function () {
      var n = form.querySelectorAll("input[name=ids]:checked").length;
      actions.hidden = n === 0;
      if (count) count.textContent = n + " selected";
    };
    form.addEventListener("change", update);
    update();
  });

  // Downloads that take a while (a learned codec's file decoded to PNG takes seconds before the
  // first byte, then megabytes) say what is happening: "Preparing…", then how much has arrived.
  // The file is then saved from memory under the server's name; on any failure the browser
  // follows the link itself, as without this script.
  function sizeText(bytes) {
    return bytes >= 1048576 ? (bytes / 1048576).toFixed(1) + " MiB" : Math.max(1, Math.round(bytes / 1024)) + " KiB";
  }
  function savedName(response, fallback) {
    var header = response.headers.get("Content-Disposition") || "";
    var star = /filename\*=UTF-8''([^;]+)/i.exec(header);
    if (star) return decodeURIComponent(star[1]);
    var plain = /filename="?([^";]+)"?/i.exec(header);
    return plain ? plain[1] : fallback;
  }
  document.querySelectorAll("a[data-download]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      if (!window.fetch || !window.ReadableStream || link.dataset.busy) return;
      event.preventDefault();
      link.dataset.busy = "1";
      var status = document.createElement("span");
      status.className = "download-status";
      status.setAttribute("role", "status");
      var bar = document.createElement("progress");
      bar.className = "download-bar";
      bar.max = 100;
      var words = document.createElement("span");
      words.textContent = "Preparing " + (link.dataset.download || "the file") + "…";
      status.appendChild(bar);
      status.appendChild(words);
      link.insertAdjacentElement("afterend", status);
      var done = function () { delete link.dataset.busy; status.remove(); };
      fetch(link.href, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
        if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
        var total = parseInt(response.headers.get("Content-Length"), 10) || 0;
        var reader = response.body.getReader(), chunks = [], received = 0;
        var pump = function () {
          return reader.read().then(function (part) {
            if (part.done) return;
            chunks.push(part.value);
            received += part.value.length;
            if (total) bar.value = Math.round(100 * received / total);
            words.textContent = "Downloading: " + sizeText(received) + (total ? " of " + sizeText(total) : "");
            return pump();
          });
        };
        return pump().then(function () {
          var blob = new Blob(chunks, { type: response.headers.get("Content-Type") || "application/octet-stream" });
          var url = URL.createObjectURL(blob);
          var save = document.createElement("a");
          save.href = url;
          save.download = savedName(response, "download");
          document.body.appendChild(save);
          save.click();
          save.remove();
          window.setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
          done();
        });
      }).catch(function () {
        done();
        window.location.href = link.href;
      });
    });
  });

  // Irreversible actions without a page of their own ask first; the form is sent only on "OK".
  // A form asks when it has data-confirm, or when one of its controls holds the value its
  // data-confirm-if names (its data-confirm is the question). Scripts that send a form themselves
  // (upload-batch.js) ask through window.vaultConfirmed before sending.
  window.vaultConfirmed = function (form) {
    var questions = [];
    if (form.dataset.confirm) questions.push(form.dataset.confirm);
    // data-confirm-if on a control (its value) or on a group of radios (the ticked one's value).
    form.querySelectorAll("[data-confirm-if]").forEach(function (el) {
      var want = el.dataset.confirmIf, hit;
      if (el.matches("input[type=radio], input[type=checkbox]")) hit = el.checked && el.value === want;
      else if (el.matches("input, select, textarea")) hit = el.value === want;
      else hit = Array.prototype.some.call(el.querySelectorAll("input:checked"), function (i) { return i.value === want; });
      if (hit && el.dataset.confirm) questions.push(el.dataset.confirm);
    });
    return questions.every(function (question) { return window.confirm(question); });
  };
  document.querySelectorAll("form[data-confirm], form:has([data-confirm-if])").forEach(function (form) {
    if (form.hasAttribute("data-sends-itself")) return;  // its own script asks
    form.addEventListener("submit", function (event) {
      if (!window.vaultConfirmed(form)) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    });
  });

  // "next in your queue · about 40 s": the status endpoint's place and estimate (vault/jobs/queue.py).
  window.vaultQueuePlace = function (record) {
    var n = record.queue_position, text;
    if (n === 1) text = "next in your queue";
    else {
      var tens = n % 100, suffix = (tens > 10 && tens < 14) ? "th" : ({ 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th");
      text = n + suffix + " in your queue";
    }
    var s = record.queue_estimate_seconds;
    if (s !== null && s !== undefined) {
      text += " · about " + (s < 90 ? Math.max(1, Math.round(s)) + " s" : Math.round(s / 60) + " min");
    }
    return text;
  };

  // A second click while an upload is sending would be a second upload; the form's token already
  // makes the server store it once, and this keeps people from wondering whether it worked.
  document.querySelectorAll("form.js-submit-once").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (event.defaultPrevented) return;  // another check refused to send it
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.disabled = true;
        if (button.dataset.sendingLabel) button.textContent = button.dataset.sendingLabel;
      });
    });
  });
})();
