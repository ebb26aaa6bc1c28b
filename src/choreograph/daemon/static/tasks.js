// The task list follows the store: every 1.5 s it fetches its rows again, rendered
// (and escaped) by the server, and swaps them in when they changed. A hidden tab waits.
"use strict";
(function () {
  const rows = document.getElementById("task-rows");
  const status = document.getElementById("live-status");
  if (!rows) return;
  let last = rows.innerHTML;
  async function tick() {
    if (!document.hidden) {
      try {
        const response = await fetch(rows.dataset.src, { cache: "no-store" });
        if (response.status === 401) {
          status.textContent = "logged out: reload the page to log in again";
          return;
        }
        if (response.ok) {
          const html = await response.text();
          if (html !== last) {
            rows.innerHTML = html;
            last = html;
          }
          status.textContent = "live: updated " + new Date().toLocaleTimeString();
        }
      } catch (err) {
        status.textContent = "live: daemon unreachable, retrying";
      }
    }
    setTimeout(tick, 1500);
  }
  setTimeout(tick, 1500);
})();
