// Draws every element with data-spec="<id of a JSON script holding a Vega spec>" using the vendored Vega build.
// No request leaves the page: the data is inside the spec and the loader refuses any URL.
(function () {
  "use strict";
  var noNetwork = vega.loader();
  noNetwork.load = function (uri) { return Promise.reject(new Error("darksocial charts load nothing: " + uri)); };
  document.querySelectorAll("[data-spec]").forEach(function (el) {
    var spec = JSON.parse(document.getElementById(el.getAttribute("data-spec")).textContent);
    new vega.View(vega.parse(spec), { renderer: "svg", container: el, hover: true, loader: noNetwork })
      .runAsync()
      .catch(function (err) { el.textContent = "Could not draw the chart: " + err; });
  });
})();
