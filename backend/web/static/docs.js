// Starts Swagger UI on /docs (a file, not an inline script: the page's Content-Security-Policy runs
// only this server's files). validatorUrl null: Swagger UI would otherwise ask swagger.io's online
// validator for a badge image, a request to another host.
"use strict";
(function () {
  var node = document.getElementById("swagger-ui-container");
  var config = { url: node.dataset.specUrl, dom_id: "#swagger-ui-container", validatorUrl: null };
  Object.assign(config, JSON.parse(node.dataset.config || "{}"));
  window.ui = SwaggerUIBundle(config);
})();
