// Editor enhancements: Ctrl/Cmd+Enter saves, Preview renders without leaving the page.
// The form works without this file: Preview then posts and the server renders the page.
(function () {
  "use strict";
  var form = document.getElementById("entry-form");
  if (!form) { return; }
  var body = document.getElementById("f-body");
  var previewButton = document.getElementById("preview-button");
  var preview = document.getElementById("preview");
  var previewBody = document.getElementById("preview-body");
  var dirty = false;

  form.addEventListener("input", function () { dirty = true; });
  form.addEventListener("submit", function () { dirty = false; });
  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });

  form.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      var save = form.querySelector('button[value="save"]');
      dirty = false;
      if (form.requestSubmit) { form.requestSubmit(save); } else { save.click(); }
    }
  });

  if (previewButton && window.fetch) {
    previewButton.addEventListener("click", function (event) {
      event.preventDefault();
      var data = new FormData();
      data.append("body", body.value);
      data.append("csrf_token", form.querySelector('input[name="csrf_token"]').value);
      previewButton.disabled = true;
      fetch(form.dataset.previewUrl, {
        method: "POST", body: data, credentials: "same-origin",
        headers: { "X-CSRFToken": document.querySelector('meta[name="csrf-token"]').content }
      }).then(function (response) {
        if (!response.ok) { throw new Error("Preview failed (" + response.status + ")"); }
        return response.text();
      }).then(function (html) {
        // The server returns sanitised HTML (nh3 allowlist), the same as a saved entry shows.
        previewBody.innerHTML = html;
        preview.hidden = false;
      }).catch(function (error) {
        previewBody.textContent = error.message;
        preview.hidden = false;
      }).finally(function () { previewButton.disabled = false; });
    });
  }
})();
