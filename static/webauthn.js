// Passkeys: the browser half of sessiond's WebAuthn ceremonies. Buttons
// carry data-passkey="register|signin|second-factor|reauth"; the server
// sends go-webauthn's JSON options, this turns them into the
// ArrayBuffers navigator.credentials wants and the answer back into JSON.
(function () {
  'use strict';
  if (!window.PublicKeyCredential || !navigator.credentials || window.sessiondPasskeys) {
    return; // no WebAuthn: the buttons stay hidden (see app.css); or already loaded
  }
  window.sessiondPasskeys = true;
  document.documentElement.classList.add('has-webauthn');

  function decode(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) { s += '='; }
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }
  function encode(buf) {
    var bytes = new Uint8Array(buf), bin = '';
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function creationOptions(json) {
    var o = json.publicKey;
    o.challenge = decode(o.challenge);
    o.user.id = decode(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = decode(c.id); });
    return o;
  }
  function requestOptions(json) {
    var o = json.publicKey;
    o.challenge = decode(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = decode(c.id); });
    return o;
  }
  function credentialJSON(cred) {
    var r = cred.response;
    var out = {
      id: cred.id, rawId: encode(cred.rawId), type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: encode(r.clientDataJSON) }
    };
    if (cred.authenticatorAttachment) { out.authenticatorAttachment = cred.authenticatorAttachment; }
    if (r.attestationObject) {
      out.response.attestationObject = encode(r.attestationObject);
      if (r.getTransports) { out.response.transports = r.getTransports(); }
    }
    if (r.authenticatorData) {
      out.response.authenticatorData = encode(r.authenticatorData);
      out.response.signature = encode(r.signature);
      if (r.userHandle) { out.response.userHandle = encode(r.userHandle); }
    }
    return out;
  }
  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : '';
  }
  function post(url, body) {
    return fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Accept': 'application/json', 'Content-Type': 'application/json', 'X-CSRF-Token': csrf() },
      body: body === undefined ? '' : JSON.stringify(body)
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) { throw new Error(data.error || ('request failed (' + res.status + ')')); }
        return data;
      });
    });
  }

  var ceremonies = {
    register: function (btn) {
      var name = document.getElementById('passkey-name');
      return post('/account/passkeys/options').then(function (json) {
        return navigator.credentials.create({ publicKey: creationOptions(json) });
      }).then(function (cred) {
        return post('/account/passkeys', { name: name ? name.value : '', credential: credentialJSON(cred) });
      }).then(function (res) {
        if (res.recoveryCodes && res.recoveryCodes.length) { return showCodes(res); }
        location.assign(res.redirect || '/account/security');
      });
    },
    signin: function (btn) {
      var next = btn.getAttribute('data-next') || '';
      return post('/login/passkey/options?next=' + encodeURIComponent(next)).then(signInWith);
    },
    'second-factor': function () {
      return post('/login/passkey/options?for=second-factor').then(signInWith);
    },
    reauth: function (btn) {
      return post('/account/reauth/passkey/options').then(function (json) {
        return navigator.credentials.get({ publicKey: requestOptions(json) });
      }).then(function (cred) {
        return post('/account/reauth/passkey', credentialJSON(cred));
      }).then(function () {
        btn.dispatchEvent(new CustomEvent('reauth-done', { bubbles: true }));
      });
    }
  };

  function signInWith(json) {
    return navigator.credentials.get({ publicKey: requestOptions(json) }).then(function (cred) {
      return post('/login/passkey', credentialJSON(cred));
    }).then(function (res) { location.assign(res.redirect || '/'); });
  }

  function showCodes(res) {
    var box = document.getElementById('passkey-codes');
    var list = document.getElementById('passkey-codes-list');
    if (!box || !list) { location.assign(res.redirect || '/account/security'); return; }
    list.textContent = '';
    res.recoveryCodes.forEach(function (code) {
      var li = document.createElement('li');
      li.textContent = code;
      list.appendChild(li);
    });
    document.getElementById('passkey-codes-next').setAttribute('href', res.redirect || '/account/security');
    box.hidden = false;
    box.scrollIntoView();
  }

  function showError(btn, err) {
    var scope = btn.closest('[data-passkey-scope]') || document;
    var box = scope.querySelector('[data-passkey-error]');
    var msg = err && err.name === 'NotAllowedError' ? 'The passkey dialog was closed or timed out.' : (err && err.message) || 'Something went wrong.';
    if (box) { box.textContent = msg; box.hidden = false; }
  }

  document.addEventListener('click', function (ev) {
    var btn = ev.target.closest && ev.target.closest('[data-passkey]');
    if (!btn) { return; }
    var run = ceremonies[btn.getAttribute('data-passkey')];
    if (!run) { return; }
    ev.preventDefault();
    btn.disabled = true;
    Promise.resolve().then(function () { return run(btn); }).catch(function (err) {
      showError(btn, err);
    }).then(function () { btn.disabled = false; });
  });
}());
