// The join page of a Safe Connection video call: joins the Twilio Video
// room named on the page with the access token on the page, shows the
// camera's preview and the other side, and says plainly how the call goes.
// It runs after the Twilio Video SDK (both scripts are deferred, in order).
(function () {
  'use strict';

  var main = document.getElementById('call');
  var statusEl = document.getElementById('status');
  var detailEl = document.getElementById('detail');
  var remoteEl = document.getElementById('remote');
  var localEl = document.getElementById('local');
  var soundButton = document.getElementById('sound');
  var leaveButton = document.getElementById('leave');
  if (!main || !statusEl) {
    return;
  }
  var token = main.getAttribute('data-token') || '';
  var roomName = main.getAttribute('data-room') || '';
  var peer = main.getAttribute('data-peer') || 'operations room';
  var room = null;
  var ended = false;

  function show(state, text, detail) {
    statusEl.textContent = text;
    statusEl.className = 'status ' + state;
    detailEl.textContent = detail || '';
    document.body.setAttribute('data-state', state);
  }

  // message turns an SDK or browser error into words for the person
  // holding the phone.
  function message(err) {
    var name = (err && err.name) || '';
    var code = (err && err.code) || 0;
    if (name === 'NotAllowedError' || name === 'PermissionDeniedError' || name === 'SecurityError') {
      return 'The camera or microphone was refused. Allow both for this page in the browser, then open the link again.';
    }
    if (name === 'NotFoundError' || name === 'DevicesNotFoundError' || name === 'OverconstrainedError') {
      return 'No camera or microphone was found on this phone.';
    }
    if (name === 'NotReadableError' || name === 'TrackStartError') {
      return 'The camera or microphone is being used by another app. Close it, then open the link again.';
    }
    if (code >= 20101 && code <= 20107) {
      return 'This link is not valid or has expired. Ask for a new one.';
    }
    if (code === 53105) {
      return 'This call already has everyone it is for.';
    }
    if (code === 53106 || code === 53118) {
      return 'This call has already ended.';
    }
    return 'The video call could not connect. Check the phone has signal or Wi-Fi, then open the link again.';
  }

  function fail(err) {
    if (ended) {
      return;
    }
    ended = true;
    leaveButton.hidden = true;
    show('error', message(err));
  }

  // attach shows a subscribed or local track; play() may be refused until
  // the person taps the page, and a button then asks for the tap.
  function attach(track, into) {
    if (!track || typeof track.attach !== 'function') {
      return;
    }
    var el = track.attach();
    el.setAttribute('data-track', track.kind || '');
    el.setAttribute('playsinline', '');
    if (into === localEl) {
      el.muted = true;
    }
    into.appendChild(el);
    var played = el.play && el.play();
    if (played && typeof played.catch === 'function') {
      played.catch(function () { soundButton.hidden = false; });
    }
  }

  function detach(track) {
    if (track && typeof track.detach === 'function') {
      track.detach().forEach(function (el) { el.remove(); });
    }
  }

  function waiting() {
    if (!ended) {
      show('connected', 'Connected', room && room.participants.size > 0 ? '' : 'Waiting for the ' + peer + ' to join…');
    }
  }

  function participantConnected(p) {
    p.tracks.forEach(function (pub) {
      if (pub.isSubscribed && pub.track) {
        attach(pub.track, remoteEl);
      }
    });
    if (typeof p.on === 'function') {
      p.on('trackSubscribed', function (track) { attach(track, remoteEl); });
      p.on('trackUnsubscribed', detach);
    }
    waiting();
  }

  function participantDisconnected(p) {
    p.tracks.forEach(function (pub) { detach(pub.track); });
    if (!ended) {
      show('connected', 'Connected', 'The ' + peer + ' has left the call.');
    }
  }

  function disconnected(r, err) {
    r.localParticipant.tracks.forEach(function (pub) {
      detach(pub.track);
      if (pub.track && typeof pub.track.stop === 'function') {
        pub.track.stop();
      }
    });
    r.participants.forEach(function (p) {
      p.tracks.forEach(function (pub) { detach(pub.track); });
    });
    leaveButton.hidden = true;
    // 53118: the room was completed, which is how the gateway ends a call.
    if (err && err.code !== 53118) {
      fail(err);
      return;
    }
    if (!ended) {
      ended = true;
      show('ended', 'The call has ended', 'You can close this page.');
    }
  }

  soundButton.addEventListener('click', function () {
    soundButton.hidden = true;
    Array.prototype.forEach.call(document.querySelectorAll('audio, video'), function (el) {
      if (el.play) {
        el.play().catch(function () {});
      }
    });
  });
  leaveButton.addEventListener('click', function () {
    if (room) {
      room.disconnect();
    }
  });
  window.addEventListener('pagehide', function () {
    if (room) {
      room.disconnect();
    }
  });

  var Video = window.Twilio && window.Twilio.Video;
  if (!Video || typeof Video.connect !== 'function') {
    ended = true;
    show('error', 'The video call could not be loaded. Check the phone has signal or Wi-Fi, then open the link again.');
    return;
  }
  if (Video.isSupported === false) {
    ended = true;
    show('error', 'This browser cannot make video calls. Open the link in Chrome, Safari, Firefox or Edge.');
    return;
  }

  show('connecting', 'Connecting to the ' + peer + '…');
  Video.connect(token, { name: roomName, audio: true, video: { width: 640 } }).then(function (r) {
    room = r;
    if (ended) {
      r.disconnect();
      return;
    }
    r.localParticipant.tracks.forEach(function (pub) {
      if (pub.track && pub.track.kind === 'video') {
        attach(pub.track, localEl);
      }
    });
    r.participants.forEach(participantConnected);
    r.on('participantConnected', participantConnected);
    r.on('participantDisconnected', participantDisconnected);
    r.on('disconnected', disconnected);
    leaveButton.hidden = false;
    waiting();
  }, fail);
})();
