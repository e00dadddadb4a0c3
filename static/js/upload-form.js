/* Compression options (the upload form, and "Compress again" on an image's page): show "Custom
   target" only for "Custom target…" (and require it then), and "Explicit quality" only for a codec
   that has one (with that codec's range). Without this script every field shows and the server
   checks the same things. The file size check lives in upload-batch.js, with the file list. */
(function () {
  "use strict";
  var rangesScript = document.getElementById("quality-ranges");
  if (!rangesScript) return;
  var ranges = JSON.parse(rangesScript.textContent);

  document.querySelectorAll("form[data-compression-options]").forEach(function (form) {
    var target = form.elements.target;
    var codec = form.elements.codec;
    var quality = form.elements.quality;
    if (!target || !codec || !quality) return;

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

    target.addEventListener("change", update);
    codec.addEventListener("change", update);
    update();
  });
})();
