// Step-up: when an htmx action answers "confirm it is you" (403 with
// X-Reauth), the answer is the re-authentication form, swapped into the
// page's dialog; once it is done ("reauth-done", from the server or from
// webauthn.js) the dialog closes and the action is sent again, without a
// reload and without asking its confirmation twice.
(function () {
  'use strict';
  var pending = null, replaying = false;
  function dialog() { return document.getElementById('reauth-dialog'); }

  document.addEventListener('htmx:beforeSwap', function (e) {
    var x = e.detail.xhr;
    if (x.status === 403 && x.getResponseHeader('X-Reauth') === 'required' && e.detail.requestConfig &&
        e.detail.requestConfig.path !== '/account/reauth') {
      var cfg = e.detail.requestConfig;
      pending = { verb: cfg.verb, path: cfg.path, elt: cfg.elt };
    }
  });
  document.addEventListener('htmx:afterSwap', function (e) {
    var d = dialog();
    if (d && e.detail.target && e.detail.target.id === 'reauth' && document.getElementById('reauth-password') && !d.open) {
      d.showModal();
    }
  });
  document.addEventListener('htmx:confirm', function (e) {
    if (replaying) {
      replaying = false;
      e.preventDefault();
      e.detail.issueRequest(true);
    }
  });
  document.addEventListener('reauth-done', function () {
    var d = dialog();
    if (d && d.open) { d.close(); }
    if (!pending) { return; }
    var p = pending;
    pending = null;
    replaying = true;
    window.htmx.ajax(p.verb, p.path, { source: p.elt });
  });
  document.addEventListener('click', function (e) {
    if (e.target.closest && e.target.closest('[data-reauth-cancel]')) {
      pending = null;
      var d = dialog();
      if (d && d.open) { d.close(); } else { history.back(); }
    }
  });
}());
