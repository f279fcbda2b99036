/*
 * darksocial tracker: the readable source. The shipped file is ../darksocial.js, this file minified by terser
 * (`npm run build`; a test proves the two agree). No dependencies, no cookies, no inline script needed.
 *
 * Configuration is read from the data attributes of its own <script> tag (written by darksocial.inject):
 *   data-collector    URL events are POSTed to (required)
 *   data-site         site id sent as "s" (required)
 *   data-home         path of the home page (default "/"); no page-view token is shown there
 *   data-ab-home      show the page-view token on the home page too
 *   data-no-ab        never show the page-view token in the address bar
 *   data-no-copy      no "Read more" line when text is copied
 *   data-content      CSS selector of the page's content for copy attribution (default "article,main")
 *   data-cookieless   no visitor id, nothing in localStorage (the server derives a daily pseudonym)
 *   data-dnt          honour Do Not Track and Global Privacy Control: send nothing, add no tokens
 *   data-query        put tokens in ?ds= instead of #ds=
 * Event fields are documented in darksocial/events.py.
 */
(() => {
  var doc = document;
  var nav = navigator;
  var loc = location;
  var conf = (doc.currentScript || {}).dataset || {};
  var collector = conf.collector;
  var noop = () => {};
  // The public API exists even when tracking is off, so that site code calling it never breaks.
  var api = (window.darksocial = { identify: noop, goal: noop });

  if (!collector || ('dnt' in conf && (nav.doNotTrack == '1' || nav.globalPrivacyControl))) {
    return;
  }

  // base62 from a cryptographic source: 6 random bits, values 62 and 63 rejected (no modulo bias);
  // 0-35 are 0-9a-z in base 36, 36-61 map to A-Z.
  function mint(length = 10) {
    var out = '';
    var n;
    while (out.length < length) {
      n = crypto.getRandomValues(new Uint8Array(1))[0] & 63;
      if (n < 62) out += n < 36 ? n.toString(36) : (n - 26).toString(36).toUpperCase();
    }
    return out;
  }

  var visitor;
  if (!('cookieless' in conf)) {
    try {
      visitor = localStorage.ds_v || (localStorage.ds_v = mint(16));
    } catch (e) {} // storage disabled: the server derives a pseudonym, as in cookieless mode
  }

  function send(event) {
    event.s = conf.site;
    event.v = visitor;
    var body = JSON.stringify(event);
    // text/plain is a CORS-safelisted type: no preflight. The beacon survives the page being left.
    if (!(nav.sendBeacon && nav.sendBeacon(collector, new Blob([body], { type: 'text/plain' })))) {
      fetch(collector, { method: 'POST', body: body, keepalive: true, mode: 'no-cors' }).catch(noop);
    }
  }

  var queryMode = 'query' in conf;
  var hash = loc.hash;
  var path = loc.pathname;
  var home = conf.home || '/';
  var incoming = (/^#ds=(.*)/.exec(hash) || /[?&]ds=([^&]*)/.exec(loc.search) || [])[1];
  if (!/^([\dA-Za-z]{10}(\.[a-z]{1,3})?|\.[a-z]{1,3})$/.test(incoming)) incoming = '';
  // The page's address without any ds token and without a fragment.
  var page = loc.origin + path + loc.search.replace(/([?&])ds=[^&]*&?/, '$1').replace(/[?&]$/, '');
  var anchor = /^#ds=/.test(hash) ? '' : hash; // an in-page anchor (#install) is never replaced

  function link(token, code) {
    var value = token + (code ? '.' + code : '');
    return queryMode ? page + (page.indexOf('?') < 0 ? '?' : '&') + 'ds=' + value : page + '#ds=' + value;
  }

  // The page-view token: whoever copies the address bar copies it; the incoming token is replaced by it.
  var view = mint();
  var showToken =
    !('noAb' in conf) && !anchor && ('abHome' in conf || (path != home && path != home + 'index.html'));
  var address = showToken ? link(view) : page + anchor;
  if (address != loc.href) history.replaceState(history.state, '', address);

  var referrer = doc.referrer;
  send({
    k: 'view',
    u: page,
    t: view,
    r: /^https?:/.test(referrer) ? referrer : '',
    i: incoming,
    n: doc.title.slice(0, 300)
  });

  function share(code, token) {
    send({ k: 'share', u: page, t: token, p: view, c: code });
  }

  // The native share button is rendered hidden: without this API it would do nothing.
  if (nav.share) {
    doc.querySelectorAll('.ds-bar [data-ds=ns]').forEach((button) => {
      button.hidden = false;
    });
  }

  doc.addEventListener('click', (event) => {
    var button = event.target.closest && event.target.closest('.ds-bar [data-ds]');
    if (!button) return;
    var code = button.dataset.ds;
    var token = mint();
    if (code == 'ns') {
      nav.share({ title: doc.title, url: link(token, code) }).then(() => {
        share(code, token);
      }, noop);
    } else if (code == 'cl' && nav.clipboard) {
      event.preventDefault();
      nav.clipboard.writeText(link(token, code)).then(() => {
        share(code, token);
        var message = button.parentNode.querySelector('.ds-msg');
        if (message) {
          message.textContent = message.dataset.text;
          setTimeout(() => {
            message.textContent = '';
          }, 2500);
        }
      }, noop);
    } else {
      share(code, token);
      // The server-rendered link carries ds=.<code> (or %3D when inside a share URL): put the token in
      // before the browser follows it. Every share mints a new token, so a repeated click replaces the last.
      button.href = button.href.replace(/(ds(=|%3D))[\dA-Za-z]*(?=\.)/g, '$1' + token);
    }
  });

  if (!('noCopy' in conf)) {
    doc.addEventListener('copy', (event) => {
      var selection = getSelection();
      var text = String(selection);
      var data = event.clipboardData;
      var content = conf.content || 'article,main';
      var end = selection.focusNode;
      end = end && (end.nodeType == 1 ? end : end.parentElement);
      var outside = [event.target, end].some((node) => {
        return (
          !node ||
          !node.closest ||
          node.closest('input,textarea,code,pre,nav,[contenteditable]') ||
          (!node.closest(content) && doc.querySelector(content))
        );
      });
      if (outside || !data || text.trim().split(/\s+/).length < 7) return;
      var token = mint();
      var url = link(token, 'ct');
      var box = doc.createElement('div');
      var line = doc.createElement('p');
      var anchorElement = doc.createElement('a');
      box.appendChild(selection.getRangeAt(0).cloneContents());
      anchorElement.href = anchorElement.textContent = url;
      line.append('Read more: ', anchorElement);
      box.appendChild(line);
      data.setData('text/plain', text + '\n\nRead more: ' + url);
      data.setData('text/html', box.innerHTML);
      event.preventDefault();
      share('ct', token);
    });
  }

  api.identify = (id, name) => {
    send({ k: 'identify', x: String(id), n: name });
  };
  api.goal = (name, value) => {
    send({ k: 'goal', u: page, t: view, g: String(name), gv: value == null ? value : +value });
  };
})();
