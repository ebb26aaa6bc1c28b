// followLog(box): streams a log from the daemon's SSE logs endpoint (box.dataset.src)
// into box's [data-role=lines] element as text (never markup), keeping the last
// MAX_LINES lines, and says in [data-role=status] where the stream is.
"use strict";
window.followLog = function (box, withInstance) {
  const MAX_LINES = 5000;
  const pre = box.querySelector("[data-role=lines]");
  const status = box.querySelector("[data-role=status]");
  const lines = [];
  let dropped = 0;
  let pending = false;
  function flush() {
    pending = false;
    const head = dropped ? "… " + dropped + " earlier lines not shown\n" : "";
    pre.textContent = head + lines.join("\n");
  }
  status.textContent = "loading…";
  const source = new EventSource(box.dataset.src);
  source.addEventListener("line", function (event) {
    const line = JSON.parse(event.data);
    lines.push(withInstance ? line.instance + "  " + line.text : line.text);
    if (lines.length > MAX_LINES) {
      lines.shift();
      dropped += 1;
    }
    status.textContent = "following…";
    if (!pending) {
      pending = true;
      setTimeout(flush, 200);
    }
  });
  source.addEventListener("end", function (event) {
    source.close();
    flush();
    const end = JSON.parse(event.data);
    status.textContent = "end of log (task " + end.state + ")";
  });
  source.onerror = function () {
    source.close();
    flush();
    status.textContent = "log stream interrupted: reload to follow again";
  };
};
