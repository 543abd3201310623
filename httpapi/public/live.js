// The live check: the part that changes is replaced as the gateway sends
// it. Without this script the page reloads itself every few seconds.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var status = document.getElementById("live-status");
  if (!live || !window.EventSource) { return; }
  var es = new EventSource(live.getAttribute("data-events"));
  es.addEventListener("live", function (e) {
    live.innerHTML = e.data;
    if (live.querySelector("[data-final=true]")) {
      es.close();
      if (status) { status.textContent = "The check has ended."; }
      return;
    }
    if (status) { status.textContent = "This page updates by itself."; }
  });
  es.onerror = function () {
    if (status) { status.textContent = "Reconnecting…"; }
  };
})();
