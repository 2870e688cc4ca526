// Starts Swagger UI on /docs. A file rather than an inline script, so that the page's
// Content-Security-Policy can allow scripts from this site only; the page's element
// tells where the OpenAPI document is.
"use strict";

(function () {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    // FastAPI's own settings for its docs page. BaseLayout needs only the `apis` preset
    // (the standalone preset draws a top bar whose logo brings a style element).
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis],
    // Never send the document to swagger.io's online validator.
    validatorUrl: null,
  });
})();
