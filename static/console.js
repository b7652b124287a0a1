// The console's behaviour around htmx: confirmations in a styled dialog
// that names what will end, focus that stays in place after an action,
// toasts with one lifetime, and paging that keeps the reader's place.
(function () {
  'use strict';
  var TOAST_MS = 6000;

  // Confirm: hx-confirm's question in #confirm-dialog instead of the
  // browser's confirm(); data-confirm-action names the button.
  function confirmDialog() { return document.getElementById('confirm-dialog'); }
  var confirmed = null; // the request the open question would send
  document.addEventListener('htmx:confirm', function (e) {
    var d = confirmDialog();
    if (e.defaultPrevented || !e.detail.question || !d) { return; }
    e.preventDefault();
    var elt = e.detail.elt;
    d.querySelector('[data-confirm-text]').textContent = e.detail.question;
    var ok = d.querySelector('[data-confirm-ok]');
    ok.textContent = elt.getAttribute('data-confirm-action') || 'Confirm';
    confirmed = function () { e.detail.issueRequest(true); };
    d.showModal();
    d.querySelector('[data-confirm-cancel]').focus();
  });
  // Sent from the form's submit, not the dialog's close event: that event
  // is queued, and a quick Escape then Enter on another row could open the
  // next question before it arrives, so it would answer the wrong one.
  document.addEventListener('submit', function (e) {
    if (e.target.closest('#confirm-dialog') === null) { return; }
    var send = confirmed;
    confirmed = null;
    if (send && e.submitter && e.submitter.value === 'ok') { send(); }
  });

  // Focus: an action inside a list row keeps the keyboard at the same row
  // (the next one once the row has gone), never at the top of the page.
  var place = null;
  document.addEventListener('htmx:beforeRequest', function (e) {
    var elt = e.detail.elt, row = elt.closest && elt.closest('tbody tr');
    var list = elt.closest && elt.closest('[data-list]');
    if (row && list) {
      place = { list: list.id, index: Array.prototype.indexOf.call(row.parentNode.children, row) };
    } else if (list && elt.closest('.pager')) {
      place = { list: list.id, paged: true };
    }
    var t = document.getElementById('toast');
    if (t && t.querySelector('.alert-error')) { t.innerHTML = ''; }
  });
  // Restored once the list itself has been swapped in (a row leaving
  // first, then the list reloading, is one action).
  function restoreFocus(e) {
    if (!place) { return; }
    // e.target is what was swapped in (for outerHTML, the new element).
    var list = document.getElementById(place.list), t = e.target;
    if (!list || !t || !t.contains || !(t === list || t.contains(list))) { return; }
    var target = null;
    if (place.paged) {
      // The top of the list, below the sticky top bar.
      target = list.querySelector('[data-list-range]');
      var bar = document.querySelector('.topbar');
      var offset = bar && getComputedStyle(bar).position === 'sticky' ? bar.offsetHeight : 0;
      window.scrollTo(0, Math.max(0, list.getBoundingClientRect().top + window.scrollY - offset - 8));
    } else if (document.activeElement === document.body || !document.body.contains(document.activeElement)) {
      var rows = list.querySelectorAll('tbody tr');
      var row = rows[Math.min(place.index, rows.length - 1)];
      target = row ? row.querySelector('td.actions button') || row.querySelector('button, a') : list.querySelector('[data-list-range]');
    }
    if (target) { target.focus({ preventScroll: !!place.paged }); }
    place = null;
  }
  document.addEventListener('htmx:afterSettle', restoreFocus);

  // "New user" and the like open a folded section and put the cursor in
  // its first field.
  document.addEventListener('click', function (e) {
    var a = e.target.closest && e.target.closest('[data-open-details]');
    if (!a) { return; }
    var d = document.getElementById(a.getAttribute('data-open-details'));
    if (!d) { return; }
    e.preventDefault();
    d.open = true;
    var f = d.querySelector('input:not([type=hidden]), select, textarea');
    if (f) { f.focus(); }
  });
  // A failed create comes back with the wrong field marked: focus it.
  document.addEventListener('htmx:afterSettle', function (e) {
    var bad = e.detail.target && e.detail.target.querySelector && e.detail.target.querySelector('[aria-invalid="true"]');
    if (bad) { bad.focus(); }
  });

  // Bulk selection: "select all" ticks the page's rows; the bulk button
  // says how many it will end and is off with none ticked.
  function bulkState(formId) {
    var boxes = document.querySelectorAll('input[type=checkbox][form="' + formId + '"]');
    var n = 0;
    boxes.forEach(function (b) { if (b.checked) { n++; } });
    var btn = document.querySelector('#' + formId + ' [data-bulk-submit]');
    if (btn) {
      btn.disabled = n === 0;
      btn.textContent = n ? 'End ' + n + ' selected' : 'End selected';
    }
    var all = document.querySelector('[data-select-all="' + formId + '"]');
    if (all) { all.checked = n > 0 && n === boxes.length; all.indeterminate = n > 0 && n < boxes.length; }
  }
  document.addEventListener('change', function (e) {
    var t = e.target;
    if (t.matches && t.matches('[data-select-all]')) {
      var id = t.getAttribute('data-select-all');
      document.querySelectorAll('input[type=checkbox][form="' + id + '"]').forEach(function (b) { b.checked = t.checked; });
      bulkState(id);
    } else if (t.matches && t.matches('input[type=checkbox][form]')) {
      bulkState(t.getAttribute('form'));
    }
  });

  // Toasts: a success leaves after TOAST_MS, an error (or a link to copy)
  // stays until the next action; any can be dismissed.
  var timer = null;
  function armToast() {
    var t = document.getElementById('toast');
    if (!t) { return; }
    clearTimeout(timer);
    if (t.querySelector('.alert') && !t.querySelector('.alert-error, input')) {
      timer = setTimeout(function () { t.innerHTML = ''; }, TOAST_MS);
    }
  }
  document.addEventListener('htmx:oobAfterSwap', function (e) {
    if (e.detail.target && e.detail.target.id === 'toast') { armToast(); }
  });
  document.addEventListener('htmx:afterSwap', function (e) {
    if (e.detail.target && e.detail.target.id === 'toast') { armToast(); }
  });
  document.addEventListener('click', function (e) {
    if (e.target.closest && e.target.closest('[data-toast-close]')) {
      document.getElementById('toast').innerHTML = '';
    }
  });
}());
