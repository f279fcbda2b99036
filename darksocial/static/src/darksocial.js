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
 *   data-cookieless   no visitor id, nothing in localStorage or sessionStorage (the server derives a pseudonym)
 *   data-dnt          honour Do Not Track and Global Privacy Control: send nothing, add no tokens
 *   data-query        put tokens in ?ds= instead of #ds=
 *   data-strip        more query parameters to drop from shared links, besides STRIP (a regular expression
 *                     alternation: "ref|src_.*")
 * Event fields are documented in darksocial/events.py.
 *
 * Sites that load pages without a full load (Material's instant navigation, Turbo, htmx boost, any
 * history.pushState) get a view per navigation: history.pushState is wrapped and popstate watched. A prerendered
 * page sends its view once it is shown (prerenderingchange), never for a page the visitor did not go to.
 */
(() => {
  var win = window;
  var doc = document;
  var nav = navigator;
  var loc = location;
  var hist = history;
  // Query parameters that never ride along in a shared link or the address bar: every tracking parameter of
  // darksocial.urls.DEFAULT_STRIP (utm_*, click ids), every private one of PRIVATE_PARAMS (ds, e-mail, tokens,
  // passwords) and every name with one of PRIVATE_ENDINGS (client_secret, sessionToken, X-Amz-Signature), compactly (tests/darksocial/test_tracker_assets.py holds it to both lists, and to keeping every
  // content parameter they keep). data-strip adds a site's own, as an alternation darksocial.inject.strip_pattern writes.
  var STRIP =
    'utm_.*|.+cl(ick|k)?id|[gw]braid|mc_[ce]id|_+hs.*|hsctatracking|igsh(id)?|_gl|srsltid|gclsrc|li_fat_id|(rdt|s)_cid|' +
    'mkt_tok|oly_(anon|enc)_id|vero_(id|conv)|epik|(pk|mtm|matomo|piwik)_.*|_branch_match_id|_kx|wickedid|' +
    'ref_src|(e-?)?mail|.*(token|secret|passw(or)?d|signature|sessionid|(api|auth|session|pass)key)|auth(orization)?|' +
    'pass|pwd|api_key|key|(php|j)?sess(ion)?(id)?|sid|code|state|sig|otp|phone|tel';
  // A site that runs head scripts again (or includes the tag twice) keeps the first tracker. (Only its API: an
  // element with id="darksocial", a heading's anchor, is a property of window too.)
  if (win.darksocial?.goal) return;
  var conf = doc.currentScript.dataset;
  var collector = conf.collector;
  var noop = () => {};
  // The public API exists even when tracking is off, so that site code calling it never breaks.
  var api = (win.darksocial = { identify: noop, goal: noop });

  if (!collector || ('dnt' in conf && (nav.doNotTrack == 1 || nav.globalPrivacyControl))) {
    return;
  }
  // Resolved against the page, not against a <base href> that may name another origin (a CDN).
  collector = new URL(collector, loc);

  // base62 from a cryptographic source: 6 random bits, values 62 and 63 rejected (no modulo bias);
  // 0-35 are 0-9a-z in base 36, 36-61 are the character codes of A-Z less 29.
  function mint(length = 10) {
    var out = '';
    var n;
    while (out.length < length) {
      n = crypto.getRandomValues(new Uint8Array(1))[0] & 63;
      if (n < 62) out += n < 36 ? n.toString(36) : String.fromCharCode(n + 29);
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
    // A string body goes as text/plain, a CORS-safelisted type: no preflight. The beacon survives the page
    // being left. (No fetch fallback: it only helps when 64 KB of beacons are in flight, and costs bytes.)
    // Where beacons are switched off (Firefox's beacon.enabled), events are lost but the page and its share
    // buttons work.
    nav.sendBeacon?.(collector, JSON.stringify(event));
  }

  var queryMode = 'query' in conf;
  var home = conf.home || '/';
  var strip = RegExp('^(ds|' + STRIP + '|' + (conf.strip || 'ds') + ')$', 'i');

  // The address without fragment, without the query parameters whose name `drop` matches (names percent-decoded,
  // as darksocial.urls decodes them) and without any whose value is an e-mail address.
  function address(drop = strip) {
    var query = loc.search
      .slice(1)
      .split('&')
      .filter((pair) => {
        var [name, value] = pair.split('=').map(unescape);
        return pair && !drop.test(name) && !/^[^@]*@.*\./.test(value); // anchored: linear in a hostile link
      })
      .join('&');
    return loc.origin + loc.pathname.replace(/;jsessionid=[^/;]*/, '') + (query ? '?' + query : '');
  }

  var page; // the canonical address of the current view
  var view; // the page-view token
  var previous = doc.referrer;
  var waiting; // a view sent once its page's title is in (in-page navigation swaps the title in later)

  // What is shared: the address now, which a router's replaceState (no new view: filters, search as you type)
  // may have moved since the view.
  function link(token, code, here = address()) {
    return here + (queryMode ? (here.includes('?') ? '&' : '?') : '#') + 'ds=' + token + (code ? '.' + code : '');
  }

  function flush() {
    if (waiting) {
      // waiting.n holds the title before an in-page navigation: while the title is still that one, it may name
      // the previous page, so none is sent (the page's other views bring it).
      waiting.n = doc.title != waiting.n ? doc.title.slice(0, 300) : '';
      send(waiting);
      waiting = 0;
    }
  }

  function pageView(oldTitle, returned) {
    flush();
    var at = loc.href;
    var hash = loc.hash;
    var path = loc.pathname;
    var incoming = /[#?&]ds=([^&#]*)/.exec(loc.search + hash)?.[1]; // query first: the capture stops at "#"
    // Only an arrival brings a token (i). A reload, back/forward or restored tab and an in-page return
    // (`returned`) show the visitor's own page-view token, which the address bar holds: never an incoming share,
    // but the view this one repeats (o), credited as that one was. No other in-page navigation brings a token.
    if (
      !/^([\dA-Za-z]{10})?(\.[a-z]{1,3})?$/.test(incoming) ||
      (returned ? incoming.length != 10 : oldTitle != null)
    ) {
      incoming = '';
    }
    page = address();
    view = mint();
    var event = (waiting = {
      k: 'view',
      u: address(/^ds$/), // with its campaign parameters, which classify the visit
      t: view,
      // Only the referrer's origin leaves the browser (its path can name a person: webmail, searches);
      // android-app://<package>: the app that opened the page.
      r: /^(https?|android-app):\/*[^/]*/.exec(previous)?.[0],
      [returned ? 'o' : 'i']: incoming,
      n: oldTitle
    });
    var anchor = /^#ds=/.test(hash) ? '' : hash; // an in-page anchor (#install) is never replaced
    var showToken =
      !('noAb' in conf) && !anchor && ('abHome' in conf || (path != home && path != home + 'index.html'));
    var shown = showToken ? link(view) : page + anchor;
    previous = page;
    // In-page navigation changes the address first and the title once the new content is in: wait for it
    // (3 s at most: pages may share a title). The address bar gets its token then too, once the router
    // (Material's, on back/forward) is done with the address.
    var tries = 30;
    (function check() {
      if (event == waiting) {
        if (doc.title != oldTitle || !tries--) {
          // unless the address moved meanwhile (a router's replaceState, an in-page anchor): that one stays
          if (loc.href == at) hist.replaceState(hist.state, '', shown);
          flush();
        } else setTimeout(check, 100);
      }
    })();
  }
  // "reload", "back_forward". A page the browser prerenders (speculation rules, Chrome's guess of what is typed in
  // the address bar) may never be seen: its view waits until the visitor goes to it.
  var arrive = () => pageView(null, /^[rb]/.test(performance.getEntriesByType('navigation')[0]?.type));
  doc.prerendering ? doc.addEventListener('prerenderingchange', arrive) : arrive();

  // popstate passes its event: a return to an earlier entry, whose address holds that view's token.
  function moved(returned) {
    if (address() != page) pageView(doc.title, returned);
  }
  var push = hist.pushState;
  hist.pushState = (...args) => {
    push.apply(hist, args);
    moved();
  };
  addEventListener('popstate', moved);
  addEventListener('pagehide', flush);
  // A page restored from the back/forward cache runs no script again, but it is a return all the same.
  addEventListener('pageshow', (event) => event.persisted && pageView(null, 1));

  function share(code, token) {
    send({ k: 'share', u: address(), t: token, p: view, c: code });
  }

  // Share bars are rendered with the native share button hidden: without this API it would do nothing.
  // A class on <html> (CSS shows the button) also reaches share bars that in-page navigation swaps in.
  if (nav.share) doc.documentElement.classList.add('ds-ns');

  doc.addEventListener('click', (event) => {
    var button = event.target.closest?.('.ds-bar [data-ds]');
    if (!button) return;
    var code = button.dataset.ds;
    var token = mint();
    if (code == 'ns') {
      nav.share({ title: doc.title, url: link(token, code) }).then(() => share(code, token), noop);
    } else if (code == 'cl' && nav.clipboard) {
      event.preventDefault();
      nav.clipboard.writeText(link(token, code)).then(() => {
        share(code, token);
        // Shown beside the button (CSS draws data-msg), announced by the bar's status region.
        var message = button.parentNode.querySelector('.ds-msg');
        button.dataset.msg = message.textContent = message.dataset.text;
        setTimeout(() => {
          message.textContent = '';
          delete button.dataset.msg;
        }, 2500);
      }, noop);
    } else {
      share(code, token);
      // The server-rendered link carries ds=.<code> (or %3D when inside a share URL): put the token in
      // before the browser follows it. Every share mints a new token, so a repeated click replaces the last.
      button.href = button.href.replace(/([#?&]|%2[36]|%3F)(ds(=|%3D))\w*(?=\.)/g, '$1$2' + token);
    }
  });

  if (!('noCopy' in conf)) {
    doc.addEventListener('copy', (event) => {
      var selection = getSelection();
      var text = String(selection);
      var data = event.clipboardData;
      var content = conf.content || 'article,main';
      var end = selection.focusNode;
      var outside = [event.target, end?.closest ? end : end?.parentElement].some(
        (node) =>
          !node?.closest ||
          node.closest('input,textarea,pre,nav,[contenteditable]') ||
          (!node.closest(content) && doc.querySelector(content))
      );
      // fewer than 7 words (splitting on the words leaves one piece more than there are words): no link added
      if (outside || !data || text.split(/\S+/).length < 8) return;
      var token = mint();
      var url = link(token, 'ct');
      var box = doc.createElement('div');
      box.append(selection.getRangeAt(0).cloneContents());
      // url has no quote or angle bracket (the browser percent-encodes them); an "&" could start an entity.
      var escaped = url.replace(/&/g, '&amp;');
      data.setData('text/plain', text + '\n\nRead more: ' + url);
      data.setData('text/html', box.innerHTML + '<p>Read more: ' + escaped.link(escaped)); // <a href="…">…</a>
      event.preventDefault();
      share('ct', token);
    });
  }

  api.identify = (id, name) => send({ k: 'identify', x: String(id), n: name });
  api.goal = (name, value) => send({ k: 'goal', u: page, t: view, g: String(name), gv: value == null ? value : +value });
})();
