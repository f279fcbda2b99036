// Draws every element with data-spec="<id of a JSON script holding a Vega spec>" using the vendored Vega build,
// with zoom buttons for large drawings. No request leaves the page: the data is inside the spec and the loader
// refuses any URL.
(function () {
  "use strict";
  var noNetwork = vega.loader();
  noNetwork.load = function (uri) { return Promise.reject(new Error("darksocial charts load nothing: " + uri)); };

  function zoomControls(el) {
    var svg = el.querySelector("svg");
    if (!svg) { return; }
    var natural = svg.getBoundingClientRect().width, scale = 1;
    var bar = document.createElement("p");
    bar.className = "ds-zoom";
    [["Zoom out", 1 / 1.25], ["100%", 0], ["Zoom in", 1.25]].forEach(function (item) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = item[0];
      button.addEventListener("click", function () {
        scale = item[1] ? Math.min(4, Math.max(0.2, scale * item[1])) : 1;
        svg.style.width = Math.round(natural * scale) + "px";
        svg.style.height = "auto";
      });
      bar.appendChild(button);
    });
    el.parentNode.insertBefore(bar, el);
  }

  document.querySelectorAll("[data-spec]").forEach(function (el) {
    var spec = JSON.parse(document.getElementById(el.getAttribute("data-spec")).textContent);
    new vega.View(vega.parse(spec), { renderer: "svg", container: el, hover: true, loader: noNetwork })
      .runAsync()
      .then(function () { zoomControls(el); })
      .catch(function (err) { el.textContent = "Could not draw the chart: " + err; });
  });
})();
