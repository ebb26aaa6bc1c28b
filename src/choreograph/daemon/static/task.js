// The task page follows the task's progress events (SSE, /api/tasks/{id}/events): it
// counts instances per group as they start and finish, lists failures as they happen,
// and, when the run starts or the task ends, swaps in the server-rendered sections
// (facts, outcome, builds, report). Text from the plan goes in with textContent only.
"use strict";
(function () {
  const root = document.getElementById("task");
  if (!root) return;
  const PAGE = 100;
  const KEEP = 2000;
  const SHOWN_FAILURES = 200;
  const COLUMN = { success: "ok", failure: "failed", crash: "crashed", stopped: "stopped" };
  const byId = (id) => document.getElementById(id);
  const model = {
    groups: new Map(), instances: new Map(), failed: [], messages: [], build: [],
    open: null, offset: 0, seen: 0,
  };

  function instanceHref(key) {
    return "/tasks/" + encodeURIComponent(root.dataset.id) + "/instances/" +
      key.split("/").map(encodeURIComponent).join("/");
  }

  function cell(row, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }

  function keep(list, text) {
    list.push(text);
    if (list.length > KEEP) list.shift();
  }

  function groupOf(key) {
    const name = key.slice(0, key.lastIndexOf("/"));
    if (!model.groups.has(name)) model.groups.set(name, blank(0));
    return model.groups.get(name);
  }

  function blank(total) {
    return { total: total, started: 0, running: 0, ok: 0, failed: 0, crashed: 0, stopped: 0 };
  }

  function apply(event) {
    switch (event.type) {
      case "RunStarted":
        model.groups.clear();
        model.instances.clear();
        model.failed = [];
        for (const [name, total] of Object.entries(event.groups)) model.groups.set(name, blank(total));
        if (root.dataset.final !== "true") {
          refresh("facts");
          refresh("final");
        }
        break;
      case "InstanceStarted": {
        const group = groupOf(event.key);
        group.started += 1;
        group.running += 1;
        model.instances.set(event.key, { status: "running", error: "" });
        break;
      }
      case "InstanceFinished": {
        const group = groupOf(event.key);
        const before = model.instances.get(event.key);
        if (before && before.status === "running") group.running -= 1;
        group[COLUMN[event.status] || "failed"] += 1;
        model.instances.set(event.key, { status: event.status, error: event.error });
        if (event.status !== "success") model.failed.push({ key: event.key, status: event.status, error: event.error });
        break;
      }
      case "Message":
        keep(model.messages, event.key + "  " + event.text);
        break;
      case "RunWarning":
        keep(model.messages, "warning: " + event.text);
        break;
      case "BuildLog":
        keep(model.build, event.line);
        break;
      case "BuildFinished":
        keep(model.build, "build " + event.build_id + " (" + event.builder + ", groups " +
          event.groups.join(", ") + "): " + (event.from_cache ? "reused" : "built in " +
          event.seconds.toFixed(1) + " s"));
        break;
      case "RunnerStatus":
        byId("runner-status").textContent = event.text;
        break;
      case "RunStopping":
        byId("runner-status").textContent = "stopping: " + event.reason;
        break;
      case "RunPulse": {
        // Time left and the barriers instances wait on: where a large run hangs.
        const left = Math.max(0, event.timeout_s - event.elapsed_s);
        const waits = event.waits.map((w) => "waiting on '" + w[0] + "': " + w[1] + "/" +
          w[2] + " arrived, " + w[3] + " waiting");
        byId("pulse").textContent = ["elapsed " + Math.floor(event.elapsed_s) + " s, timeout in " +
          Math.floor(left) + " s"].concat(waits).join("\n");
        break;
      }
      default:
        break;
    }
  }

  function renderGroups() {
    const body = byId("groups");
    if (!model.groups.size) return;
    body.textContent = "";
    for (const [name, g] of model.groups) {
      const row = document.createElement("tr");
      row.dataset.group = name;
      cell(row, name);
      cell(row, String(g.total));
      cell(row, String(g.started));
      cell(row, String(g.running));
      cell(row, String(g.ok), g.ok ? "ok" : "");
      cell(row, String(g.failed), g.failed ? "bad" : "");
      cell(row, String(g.crashed), g.crashed ? "bad" : "");
      cell(row, String(g.stopped), g.stopped ? "bad" : "");
      const bar = document.createElement("progress");
      bar.max = Math.max(g.total, 1);
      bar.value = g.ok + g.failed + g.crashed + g.stopped;
      cell(row, "").appendChild(bar);
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "instances";
      button.addEventListener("click", () => openGroup(name));
      cell(row, "").appendChild(button);
      body.appendChild(row);
    }
  }

  function renderFailed() {
    byId("failed-count").textContent = String(model.failed.length);
    const list = byId("failed-live");
    if (list.childElementCount === Math.min(model.failed.length, SHOWN_FAILURES)) return;
    list.textContent = "";
    for (const f of model.failed.slice(0, SHOWN_FAILURES)) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = instanceHref(f.key);
      link.className = "instance-link";
      link.textContent = f.key;
      const badge = document.createElement("span");
      badge.className = "badge bad";
      badge.textContent = f.status;
      const error = document.createElement("span");
      error.className = "error";
      error.textContent = f.error;
      item.append(link, " ", badge, error);
      list.appendChild(item);
    }
    if (model.failed.length > SHOWN_FAILURES) {
      const more = document.createElement("li");
      more.textContent = "… " + (model.failed.length - SHOWN_FAILURES) + " more: see the outcome below, or a group's instances";
      list.appendChild(more);
    }
  }

  function openGroup(name) {
    model.open = name;
    model.offset = 0;
    byId("instances").hidden = false;
    byId("instances-group").textContent = name;
    renderInstances();
  }

  function renderInstances() {
    if (model.open === null) return;
    const g = model.groups.get(model.open) || blank(0);
    const filter = byId("instances-filter").value;
    const keys = [];
    for (let i = 0; i < g.total; i += 1) {
      const key = model.open + "/" + i;
      const status = (model.instances.get(key) || { status: "pending" }).status;
      if (filter === "all" || filter === status ||
          (filter === "bad" && status !== "success" && status !== "running" && status !== "pending")) keys.push(key);
    }
    model.offset = Math.max(0, Math.min(model.offset, Math.max(0, keys.length - 1)));
    const page = keys.slice(model.offset, model.offset + PAGE);
    byId("instances-range").textContent = keys.length
      ? (model.offset + 1) + "–" + (model.offset + page.length) + " of " + keys.length : "none";
    const body = byId("instances-rows");
    body.textContent = "";
    for (const key of page) {
      const known = model.instances.get(key) || { status: "pending", error: "" };
      const row = document.createElement("tr");
      const link = document.createElement("a");
      link.href = instanceHref(key);
      link.textContent = key;
      cell(row, "").appendChild(link);
      cell(row, known.status, known.status === "success" ? "ok" : known.status === "running" ? "" : "bad");
      cell(row, known.error, "error");
      body.appendChild(row);
    }
  }

  function renderText() {
    byId("message-count").textContent = String(model.messages.length);
    byId("messages").textContent = model.messages.join("\n");
    byId("build-log").textContent = model.build.join("\n");
  }

  let scheduled = false;
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    setTimeout(() => {
      scheduled = false;
      renderGroups();
      renderFailed();
      renderInstances();
      renderText();
    }, 200);
  }

  async function refresh(name) {
    try {
      const response = await fetch(root.dataset.parts + name + location.search, { cache: "no-store" });
      if (response.ok) {
        byId(name).innerHTML = await response.text();
        bind();
      }
    } catch (err) {
      byId("live-state").textContent = "(daemon unreachable)";
    }
  }

  function bind() {
    const cancel = byId("cancel");
    if (cancel && !cancel.dataset.bound) {
      cancel.dataset.bound = "yes";
      cancel.addEventListener("click", async () => {
        cancel.disabled = true;
        await fetch(cancel.dataset.src, { method: "POST" });
        refresh("facts");
      });
    }
    const report = byId("report-box");
    if (report && !report.dataset.bound) {
      report.dataset.bound = "yes";
      report.addEventListener("toggle", () => {
        const frame = byId("report");
        if (report.open && !frame.getAttribute("src")) frame.src = report.dataset.src;
      });
    }
  }

  const merged = byId("merged-log");
  merged.addEventListener("toggle", () => {
    if (merged.open && !merged.dataset.started) {
      merged.dataset.started = "yes";
      window.followLog(merged, true);
    }
  });
  byId("instances-filter").addEventListener("change", () => { model.offset = 0; renderInstances(); });
  byId("instances-prev").addEventListener("click", () => { model.offset = Math.max(0, model.offset - PAGE); renderInstances(); });
  byId("instances-next").addEventListener("click", () => { model.offset += PAGE; renderInstances(); });
  byId("instances-close").addEventListener("click", () => { model.open = null; byId("instances").hidden = true; });
  bind();

  const live = byId("live-state");
  live.textContent = root.dataset.final === "true" ? "(replaying)" : "(live)";
  const source = new EventSource(root.dataset.events);
  source.addEventListener("progress", (message) => {
    model.seen += 1;
    if (model.seen === 1 && root.dataset.final !== "true") refresh("facts");
    apply(JSON.parse(message.data));
    schedule();
  });
  source.addEventListener("end", (message) => {
    source.close();
    const end = JSON.parse(message.data);
    live.textContent = "(" + end.state + (end.outcome ? ", " + end.outcome : "") + ")";
    root.dataset.final = "true";
    schedule();
    refresh("facts");
    refresh("final");
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) live.textContent = "(disconnected: reload to follow again)";
    else live.textContent = "(reconnecting…)";
  };
})();
