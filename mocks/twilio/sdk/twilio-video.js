// A fake of the Twilio Video JavaScript SDK (twilio-video.js 2.x), served by
// the fake Twilio for tests and the demo. It defines what a page uses of
// window.Twilio.Video: connect(token, options) acquires the camera and
// microphone as the real SDK does (so a refusal rejects the same way), then
// joins the room through the fake's own endpoints instead of Twilio's
// signalling servers, and resolves to a Room with localParticipant,
// participants, on(...) and disconnect(). No media flows between
// participants: the other side appears as a participant without tracks.
(function () {
  'use strict';

  var script = document.currentScript;
  var base = script && script.src ? new URL(script.src).origin : '';
  var pollEvery = 500;

  function twilioError(body) {
    var err = new Error((body && body.message) || 'Signaling connection error');
    err.name = 'TwilioError';
    err.code = (body && body.code) || 53000;
    return err;
  }

  function call(path, body) {
    return fetch(base + path, {
      method: 'POST',
      mode: 'cors',
      credentials: 'omit',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body)
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (data) {
        if (!resp.ok) {
          throw twilioError(data);
        }
        return data;
      });
    }, function () {
      throw twilioError({ code: 53000, message: 'Signaling connection error' });
    });
  }

  function Emitter() {
    this._handlers = {};
  }
  Emitter.prototype.on = function (event, fn) {
    (this._handlers[event] = this._handlers[event] || []).push(fn);
    return this;
  };
  Emitter.prototype.off = function (event, fn) {
    this._handlers[event] = (this._handlers[event] || []).filter(function (h) { return h !== fn; });
    return this;
  };
  Emitter.prototype.emit = function (event) {
    var args = Array.prototype.slice.call(arguments, 1);
    (this._handlers[event] || []).slice().forEach(function (fn) { fn.apply(null, args); });
  };

  // LocalTrack wraps a MediaStreamTrack from getUserMedia.
  function LocalTrack(mst) {
    this.kind = mst.kind;
    this.name = mst.id;
    this.mediaStreamTrack = mst;
    this._elements = [];
  }
  LocalTrack.prototype.attach = function () {
    var el = document.createElement(this.kind === 'video' ? 'video' : 'audio');
    el.autoplay = true;
    el.srcObject = new MediaStream([this.mediaStreamTrack]);
    this._elements.push(el);
    return el;
  };
  LocalTrack.prototype.detach = function () {
    var els = this._elements;
    this._elements = [];
    els.forEach(function (el) { el.srcObject = null; });
    return els;
  };
  LocalTrack.prototype.stop = function () {
    this.mediaStreamTrack.stop();
  };

  function localTracks(options) {
    var constraints = { audio: !!options.audio, video: options.video || false };
    if (!constraints.audio && !constraints.video) {
      return Promise.resolve([]);
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      var err = new Error('getUserMedia is not available here');
      err.name = 'NotSupportedError';
      return Promise.reject(err);
    }
    return navigator.mediaDevices.getUserMedia(constraints).then(function (stream) {
      return stream.getTracks().map(function (t) { return new LocalTrack(t); });
    });
  }

  function RemoteParticipant(p) {
    Emitter.call(this);
    this.sid = p.sid;
    this.identity = p.identity;
    this.state = 'connected';
    this.tracks = new Map();
    this.audioTracks = new Map();
    this.videoTracks = new Map();
  }
  RemoteParticipant.prototype = Object.create(Emitter.prototype);

  function Room(data, token, tracks) {
    Emitter.call(this);
    var self = this;
    this.sid = data.room.sid;
    this.name = data.room.name;
    this.state = 'connected';
    this._token = token;
    var pubs = new Map();
    tracks.forEach(function (t, i) {
      pubs.set('MT' + i, { trackSid: 'MT' + i, trackName: t.name, kind: t.kind, track: t, isTrackEnabled: true });
    });
    this.localParticipant = {
      sid: data.participant.sid,
      identity: data.participant.identity,
      state: 'connected',
      tracks: pubs,
      audioTracks: new Map(Array.from(pubs).filter(function (e) { return e[1].kind === 'audio'; })),
      videoTracks: new Map(Array.from(pubs).filter(function (e) { return e[1].kind === 'video'; }))
    };
    this.participants = new Map();
    (data.participants || []).forEach(function (p) {
      self.participants.set(p.sid, new RemoteParticipant(p));
    });
    this._timer = setInterval(function () { self._poll(); }, pollEvery);
  }
  Room.prototype = Object.create(Emitter.prototype);

  Room.prototype._poll = function () {
    var self = this;
    call('/fake/video/poll', { token: this._token, room: this.sid }).then(function (data) {
      if (self.state !== 'connected') {
        return;
      }
      var now = new Map();
      (data.participants || []).forEach(function (p) { now.set(p.sid, p); });
      self.participants.forEach(function (p, sid) {
        if (!now.has(sid)) {
          self.participants.delete(sid);
          p.state = 'disconnected';
          self.emit('participantDisconnected', p);
        }
      });
      now.forEach(function (p, sid) {
        if (!self.participants.has(sid)) {
          var rp = new RemoteParticipant(p);
          self.participants.set(sid, rp);
          self.emit('participantConnected', rp);
        }
      });
      if (data.status === 'completed') {
        self._end(twilioError({ code: 53118, message: 'Room completed' }));
      }
    }, function (err) {
      if (err.code !== 53000) {
        self._end(err);
      }
    });
  };

  Room.prototype._end = function (err) {
    if (this.state === 'disconnected') {
      return;
    }
    this.state = 'disconnected';
    this.localParticipant.state = 'disconnected';
    clearInterval(this._timer);
    this.emit('disconnected', this, err);
  };

  Room.prototype.disconnect = function () {
    if (this.state === 'disconnected') {
      return this;
    }
    call('/fake/video/disconnect', { token: this._token, room: this.sid }).catch(function () {});
    this._end();
    return this;
  };

  function connect(token, options) {
    options = options || {};
    return localTracks(options).then(function (tracks) {
      return call('/fake/video/connect', { token: token, room: options.name || '' }).then(function (data) {
        return new Room(data, token, tracks);
      }, function (err) {
        tracks.forEach(function (t) { t.stop(); });
        throw err;
      });
    });
  }

  window.Twilio = window.Twilio || {};
  window.Twilio.Video = { connect: connect, isSupported: true, version: '2.36.0-fake' };
})();
