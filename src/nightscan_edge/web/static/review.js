// Review page: one window at a time, decided by mouse or keyboard. Every decision is a POST the server stores
// before it answers (SQLite); a 409 means another tab decided the window first, a 404 that it left the queue.
// Keys: Enter/a accept, 1..9 a label, b background, x reject, space play, arrows move, u/ctrl-z undo.
(() => {
  "use strict";
  const queue = JSON.parse(document.getElementById("review-data").textContent);
  const api = `/api/review/${encodeURIComponent(queue.name)}`;
  const tab = sessionStorage.getItem("review-tab") || `tab-${Math.random().toString(36).slice(2, 8)}`;
  sessionStorage.setItem("review-tab", tab);
  const $ = (id) => document.getElementById(id);
  const card = $("current");
  const picture = $("picture");
  const sound = $("sound");
  const error = $("review-error");
  let windows = [];
  let index = 0;
  const undoStack = []; // this tab's decisions, newest last
  let work = Promise.resolve(); // actions run one after another, in the order the keys were pressed

  const describe = (decision) =>
    decision.action === "reject" ? "rejected" : `${decision.action === "accept" ? "accepted" : decision.action} as ${decision.label}`;

  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };

  const prefetch = (from) => {
    for (const w of windows.slice(from + 1, from + 3)) {
      new Image().src = w.picture_url; // the browser caches it (Cache-Control: private)
      if (w.audio_url) fetch(w.audio_url).catch(() => {});
    }
  };

  const render = () => {
    const decided = windows.filter((w) => w.decision).length;
    $("progress").textContent = `${decided} of ${windows.length} decided`;
    const w = windows[index];
    if (!w) {
      card.dataset.windowId = "";
      card.dataset.state = "empty";
      $("proposed-label").textContent = "nothing queued";
      return;
    }
    card.dataset.windowId = String(w.id);
    card.dataset.state = "loading";
    $("proposed-label").textContent = w.label || "(no proposal)";
    $("confidence").textContent = w.confidence == null ? "" : `${Math.round(w.confidence * 100)}%`;
    $("source").textContent = `${w.source} · window ${index + 1} of ${windows.length}`;
    $("where").textContent = w.end_s == null ? w.recording : `${w.recording} ${w.start_s.toFixed(2)}–${w.end_s.toFixed(2)} s`;
    $("decision-state").textContent = w.decision ? describe(w.decision) : "waiting for a decision";
    if (w.decision) card.dataset.decided = w.decision.action;
    else delete card.dataset.decided;
    if (picture.getAttribute("src") !== w.picture_url) {
      picture.alt = `${w.end_s == null ? "photo" : "log-mel spectrogram"} of ${w.name}`;
      picture.src = w.picture_url;
    }
    if (picture.complete && picture.naturalWidth > 0) card.dataset.state = "ready";
    sound.hidden = !w.audio_url;
    if (w.audio_url && sound.getAttribute("src") !== w.audio_url) sound.src = w.audio_url;
    prefetch(index);
  };
  picture.addEventListener("load", () => {
    if (picture.getAttribute("src") === (windows[index] || {}).picture_url) card.dataset.state = "ready";
  });
  picture.addEventListener("error", () => showError(`the picture of window ${card.dataset.windowId} could not be drawn`));

  const nextPending = (from) => {
    for (let i = from + 1; i < windows.length; i += 1) if (!windows[i].decision) return i;
    for (let i = 0; i < windows.length; i += 1) if (!windows[i].decision) return i;
    return Math.min(from + 1, windows.length - 1);
  };

  const load = async () => {
    const pageSize = 2000; // a long night's prelabel CSV can queue more than one page of windows
    const all = [];
    for (let offset = 0; ; offset += pageSize) {
      const response = await fetch(`${api}/windows?offset=${offset}&limit=${pageSize}`);
      const page = await response.json();
      all.push(...page);
      if (page.length < pageSize) break;
    }
    windows = all;
    const pending = windows.findIndex((w) => !w.decision);
    index = pending >= 0 ? pending : Math.max(0, windows.length - 1); // back where the queue was left
    render();
  };

  const send = async (url, body) => {
    const response = await fetch(url, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({ detail: `HTTP ${response.status}` }));
    return { response, answer };
  };

  const replace = (updated) => {
    const at = windows.findIndex((w) => w.id === updated.id);
    if (at >= 0) windows[at] = updated;
    return at;
  };

  const decide = async (action, label) => {
    const w = windows[index];
    if (!w) return;
    const body = { window_id: w.id, action, tab };
    if (label !== undefined) body.label = label;
    const { response, answer } = await send(`${api}/decisions`, body);
    if (response.status === 404) {
      showError(answer.detail);
      windows.splice(index, 1);
      index = Math.min(index, windows.length - 1);
      render();
      return;
    }
    if (!response.ok) {
      showError(answer.detail);
      if (response.status === 409) await load();
      return;
    }
    showError("");
    if (!w.decision || w.decision.id !== answer.decision.id) undoStack.push(answer.decision.id);
    replace(answer);
    index = nextPending(index);
    render();
  };

  const undo = async () => {
    const decisionId = undoStack.pop();
    if (decisionId === undefined) {
      showError("nothing of this tab's to undo");
      return;
    }
    const { response, answer } = await send(`${api}/undo`, { decision_id: decisionId, tab });
    if (!response.ok) {
      showError(answer.detail);
      await load();
      return;
    }
    showError("");
    const at = replace(answer);
    if (at >= 0) index = at;
    render();
  };

  const move = (step) => {
    index = Math.max(0, Math.min(windows.length - 1, index + step));
    render();
  };

  const play = () => {
    if (sound.hidden) return;
    if (sound.paused) sound.play().catch(() => {});
    else sound.pause();
  };

  const chooseLabel = (label) => {
    const w = windows[index];
    if (!w) return Promise.resolve();
    if (label === "background") return decide("background");
    return label === w.label ? decide("accept") : decide("relabel", label);
  };

  const enqueue = (job) => {
    work = work.then(job).catch((problem) => showError(String(problem)));
  };

  // A clicked button gives its focus back, so a later Enter or space is a review key, not a second click.
  const onClick = (button, job) => button.addEventListener("click", () => {
    button.blur();
    enqueue(job);
  });
  document.querySelectorAll("[data-action]").forEach((button) => onClick(button, () => decide(button.dataset.action)));
  document.querySelectorAll("[data-label]").forEach((button) => onClick(button, () => chooseLabel(button.dataset.label)));
  onClick($("previous"), () => move(-1));
  onClick($("next"), () => move(1));
  onClick($("undo"), undo);
  $("play").addEventListener("click", play);

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLSelectElement || target instanceof HTMLTextAreaElement) return;
    if (event.altKey) return;
    const key = event.key;
    if ((event.ctrlKey || event.metaKey) && key.toLowerCase() === "z") {
      event.preventDefault();
      enqueue(undo);
      return;
    }
    if (event.ctrlKey || event.metaKey) return;
    if (key === " ") {
      event.preventDefault(); // no page scroll, and a focused button is not clicked
      play();
    } else if (key === "Enter" || key === "a") {
      event.preventDefault();
      enqueue(() => decide("accept"));
    } else if (key === "b") {
      enqueue(() => decide("background"));
    } else if (key === "x") {
      enqueue(() => decide("reject"));
    } else if (key === "u") {
      enqueue(undo);
    } else if (key === "ArrowRight") {
      event.preventDefault();
      enqueue(() => move(1));
    } else if (key === "ArrowLeft") {
      event.preventDefault();
      enqueue(() => move(-1));
    } else if (/^[1-9]$/.test(key) && Number(key) <= queue.labels.length) {
      enqueue(() => chooseLabel(queue.labels[Number(key) - 1]));
    }
  });

  $("make-version").addEventListener("click", async () => {
    const versionError = $("version-error");
    versionError.hidden = true;
    const { response, answer } = await send(`${api}/versions`, {});
    if (!response.ok) {
      versionError.textContent = answer.detail;
      versionError.hidden = false;
      return;
    }
    window.location.href = `/datasets/${encodeURIComponent(answer.id)}`;
  });

  enqueue(load);
})();
