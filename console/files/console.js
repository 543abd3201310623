// The console's own script: it keeps a room's board live by server-sent
// events. Without it the board is still whole, and a reload shows changes.
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board || !window.EventSource) {
    return;
  }
  var status = document.getElementById("live-status");
  var meta = document.querySelector('meta[name="csrf"]');
  var csrf = meta ? meta.content : "";

  function say(text, on) {
    if (!status) return;
    status.textContent = text;
    status.className = "live-status " + (on ? "on" : "off");
  }

  // apply replaces the board's parts with the new ones, keeping the
  // elements of a row that has not changed (and so what is typed in it),
  // and, for a row that has, the notes typed and the focus.
  function apply(html) {
    var doc = new DOMParser().parseFromString("<div>" + html + "</div>", "text/html");
    var next = doc.body.firstElementChild;
    next.querySelectorAll('input[name="csrf"]').forEach(function (i) { i.value = csrf; });
    var focused = document.activeElement && document.activeElement.id;
    next.querySelectorAll("[data-sum][id]").forEach(function (el) {
      var cur = document.getElementById(el.id);
      if (!cur) return;
      if (cur.getAttribute("data-sum") === el.getAttribute("data-sum")) {
        el.replaceWith(cur);
        return;
      }
      cur.querySelectorAll("textarea[id]").forEach(function (t) {
        var n = next.querySelector("#" + CSS.escape(t.id));
        if (n) n.value = t.value;
      });
    });
    board.replaceChildren.apply(board, Array.prototype.slice.call(next.childNodes));
    if (focused) {
      var f = document.getElementById(focused);
      if (f) f.focus();
    }
  }

  var es = new EventSource(board.getAttribute("data-events"));
  es.addEventListener("open", function () { say("Live: the board updates by itself.", true); });
  es.addEventListener("board", function (e) { apply(e.data); });
  es.addEventListener("end", function () {
    es.close();
    say("Signed out: the board no longer updates.", false);
    window.location.reload();
  });
  es.addEventListener("error", function () {
    say("Reconnecting… the board may be out of date.", false);
  });
})();
