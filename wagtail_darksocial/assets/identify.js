// Identifies the signed-in user to the darksocial tracker (loaded after it; no inline script, so strict CSP works).
(function () {
  var data = (document.currentScript || {}).dataset || {};
  if (data.id && window.darksocial) window.darksocial.identify(data.id, data.name || undefined);
})();
