/* The portal's shared script: copy buttons, the share key from a link's fragment, and forms that
   send once. Everything works without it; it only reveals the elements marked .js-only.
   (The compare view has its own script, compare.js.) */
(function () {
  "use strict";

  document.querySelectorAll(".js-only[hidden]").forEach(function (el) {
    el.hidden = false;
  });

  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
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

  // Irreversible actions without a page of their own ask first; the form is sent only on "OK".
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) {
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
