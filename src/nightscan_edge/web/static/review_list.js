// Review list page: the two forms post JSON to the API and show its one-line error in place.
(() => {
  "use strict";
  const post = async (form, url, body, next) => {
    const error = form.querySelector(".error");
    error.hidden = true;
    const response = await fetch(url, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({ detail: `HTTP ${response.status}` }));
    if (!response.ok) {
      error.textContent = answer.detail;
      error.hidden = false;
      return;
    }
    window.location.href = next(answer);
  };
  const create = document.getElementById("new-queue");
  create.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(create);
    const body = { dataset_id: data.get("dataset_id") };
    if (data.get("name")) body.name = data.get("name");
    post(create, "/api/review", body, (queue) => `/review/${encodeURIComponent(queue.name)}`);
  });
  const load = document.getElementById("import-windows");
  load.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(load);
    const queue = encodeURIComponent(data.get("queue"));
    post(load, `/api/review/${queue}/import`, { path: data.get("path") }, () => `/review/${queue}`);
  });
})();
