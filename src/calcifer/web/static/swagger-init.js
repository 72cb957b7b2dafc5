/* Calcifer: start Swagger UI on /api/docs. A file rather than FastAPI's inline <script>, because the
 * Content-Security-Policy allows scripts from /static/ only. The OpenAPI URL comes from data-openapi-url. */
(function () {
  "use strict";
  var el = document.getElementById("swagger-ui");
  if (!el || typeof window.SwaggerUIBundle !== "function") return;
  window.SwaggerUIBundle({
    url: el.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    /* no badge image from validator.swagger.io: the CSP allows images from here only, and the spec stays private */
    validatorUrl: null,
    presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIBundle.SwaggerUIStandalonePreset]
  });
})();
