// Start Swagger UI on the API reference page; the document URL comes from a data attribute
// because the Content-Security-Policy forbids inline scripts.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    dom_id: "#swagger-ui",
    // Deep links put a link inside each operation's toggle button: two controls in one, which
    // keyboard and screen-reader users cannot tell apart (axe: nested-interactive).
    deepLinking: false,
    tryItOutEnabled: false,
    requestInterceptor: function (request) {
      var meta = document.querySelector('meta[name="csrf-token"]');
      if (meta) { request.headers["X-CSRFToken"] = meta.content; }
      return request;
    }
  });
})();
