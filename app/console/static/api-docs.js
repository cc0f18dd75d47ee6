// Starts Swagger UI on the API's /docs page (app/http/api_docs.py). A file of its own, not an inline script, so the
// page's Content Security Policy can refuse every inline script; the contract's address is the page's data attribute.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    domNode: root,
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // Never send the contract to validator.swagger.io for its badge.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
