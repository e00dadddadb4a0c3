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
  }

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
