// Review page, "What to label next": POST /api/review/<queue>/suggest starts `review suggest` as a worker; the
// page polls the job and reloads the queue when the windows are in (the worker writes them to the same store).
(() => {
  "use strict";
  const queue = JSON.parse(document.getElementById("review-data").textContent);
  const api = `/api/review/${encodeURIComponent(queue.name)}/suggest`;
  const form = document.getElementById("suggest-form");
  const status = document.getElementById("suggest-status");
  const error = document.getElementById("suggest-error");
  const runs = form.elements.run_id;
  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };

  fetch("/api/runs")
    .then((response) => (response.ok ? response.json() : []))
    .then((all) => {
      for (const run of all.filter((r) => r.status === "done")) {
        runs.add(new Option(`${run.id} (${run.model})`, run.id));
      }
    })
    .catch(() => {});

  const poll = async (url) => {
    const answer = await (await fetch(url)).json();
    if (answer.status === "running") {
      status.textContent = `scoring the recordings… ${answer.progress || ""}`;
      setTimeout(() => poll(url), 1000);
    } else if (answer.status === "done") {
      status.textContent = (answer.summary || [`queued ${answer.added} window(s)`])[0];
      setTimeout(() => window.location.reload(), 1500);
    } else {
      status.textContent = "";
      showError(answer.error || "the suggestion failed");
      form.querySelector("button").disabled = false;
    }
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("");
    const data = new FormData(form);
    const body = { run_id: data.get("run_id"), recordings: data.get("recordings"), n: Number(data.get("n")) };
    const response = await fetch(api, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({ detail: `HTTP ${response.status}` }));
    if (!response.ok) {
      showError(answer.detail);
      return;
    }
    form.querySelector("button").disabled = true;
    status.textContent = "scoring the recordings…";
    poll(answer.status_url);
  });
})();
