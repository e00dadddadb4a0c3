/* The upload form: show "Custom target" only for "Custom target…" (and require it then), show
   "Explicit quality" only for a codec that has one (with that codec's range), and refuse a file
   over the size limit before it is sent. Without this script every field shows and the server
   checks the same things. */
(function () {
  "use strict";
  var form = document.querySelector(".upload-form");
  if (!form) return;
  var ranges = JSON.parse(document.getElementById("quality-ranges").textContent);
  var target = form.elements.target;
  var codec = form.elements.codec;
  var quality = form.elements.quality;
  var file = form.elements.file;

  // A hidden field is disabled too, so a value typed before it was hidden is not sent.
  function reveal(name, shown, required) {
    var box = form.querySelector('[data-reveal="' + name + '"]');
    shown = shown || box.querySelector(".errorlist") !== null; // never hide the server's message
    box.hidden = !shown;
    box.querySelectorAll("input").forEach(function (input) {
      input.disabled = !shown;
      input.required = shown && required;
    });
    var optional = box.querySelector("label .muted");
    if (optional) optional.hidden = required;
  }

  function update() {
    reveal("custom-target", target.value === "custom", true);
    var range = ranges[codec.value];
    reveal("quality", Boolean(range), false);
    if (range) {
      quality.min = range[0];
      quality.max = range[1];
      quality.placeholder = range[0] + "–" + range[1];
    }
  }

  // The same words and decimal megabytes as the server's error (vault.services).
  function checkSize() {
    var limit = Number(file.dataset.maxBytes);
    var chosen = file.files && file.files[0];
    var message = "";
    if (chosen && limit && chosen.size > limit) {
      message = "The file is too large: " + (chosen.size / 1e6).toFixed(1) + " MB; the limit is " + (limit / 1e6).toFixed(1) + " MB.";
    }
    file.setCustomValidity(message);
    if (message) file.reportValidity();
  }

  target.addEventListener("change", update);
  codec.addEventListener("change", update);
  file.addEventListener("change", checkSize);
  update();
})();
