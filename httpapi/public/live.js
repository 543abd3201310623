// The live check: the part that changes is replaced as the gateway sends
// it. Without this script the page reloads itself every few seconds. What
// it says comes from the page, in the page's language.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var status = document.getElementById("live-status");
  if (!live || !window.EventSource) { return; }
  function say(name, otherwise) {
    if (status) { status.textContent = status.getAttribute("data-" + name) || otherwise; }
  }
  var es = new EventSource(live.getAttribute("data-events"));
  es.addEventListener("live", function (e) {
    live.innerHTML = e.data;
    if (live.querySelector("[data-final=true]")) {
      es.close();
      say("ended", "The check has ended.");
      return;
    }
    say("updating", "This page updates by itself.");
  });
  es.onerror = function () {
    say("reconnecting", "Reconnecting…");
  };
})();
