// The run page, live: asks /api/runs/<id> for the run's status every second while it is started, and recolours the
// DAG's nodes and the steps' badges in place. Confirmation of cancel and resume. No library, nothing fetched
// from elsewhere.
(function () {
  "use strict";

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });

  var head = document.getElementById("run");
  if (!head) return;
  var runId = head.getAttribute("data-run");
  var every = parseInt(head.getAttribute("data-poll-ms"), 10) || 1000;

  function setBadge(badge, status) {
    if (!badge || badge.getAttribute("data-status") === status) return;
    badge.className = "badge st-" + status;
    badge.setAttribute("data-status", status);
    badge.textContent = status;
  }

  function apply(run) {
    run.steps.forEach(function (step) {
      var node = document.querySelector('g.node[data-step="' + CSS.escape(step.step_slug) + '"]');
      if (node && node.getAttribute("data-status") !== step.status) {
        node.setAttribute("class", "node st-" + step.status);
        node.setAttribute("data-status", step.status);
        var text = node.querySelector(".status-text");
        if (text) text.textContent = step.status;
        var title = node.querySelector("title");
        if (title) title.textContent = step.step_slug + ": " + step.status;
      }
      if (node) {
        var label = node.querySelector("text.label");
        if (label && label.firstChild) label.firstChild.nodeValue = step.label + " · ";
      }
      var section = document.getElementById("step-" + step.step_slug);
      if (section) {
        setBadge(section.querySelector(".step-status .badge"), step.status);
        var tasks = section.querySelector(".step-tasks");
        if (tasks) tasks.textContent = step.completed_tasks + "/" + step.total_tasks;
      }
    });
    var done = run.steps.filter(function (s) { return s.status === "completed" || s.status === "skipped"; }).length;
    var progress = document.getElementById("run-progress");
    if (progress) progress.textContent = done + "/" + run.steps.length;
    setBadge(document.querySelector("#run-status .badge"), run.status);
    head.setAttribute("data-status", run.status);
    if (run.status !== "started") {
      var finished = document.getElementById("run-finished");
      if (finished && run.finished_at) finished.textContent = run.finished_at.slice(0, 19).replace("T", " ");
      document.getElementById("live-note").hidden = false;
      document.querySelectorAll(".actions form").forEach(function (f) { f.hidden = true; });
    }
  }

  function poll() {
    fetch("/api/runs/" + encodeURIComponent(runId), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (run) {
        if (run) apply(run);
        if (!run || run.status === "started") window.setTimeout(poll, every);
      })
      .catch(function () { window.setTimeout(poll, every * 5); });
  }

  if (head.getAttribute("data-status") === "started") window.setTimeout(poll, every);
})();
