// KITT's only script: it enhances pages that already work without it.
"use strict";

// Choices that change what a form offers (agent → engines → models) reload the form at once.
document.querySelectorAll("[data-autosubmit]").forEach((el) => {
  el.addEventListener("change", () => el.form.submit());
});

// Ask before destructive actions.
document.querySelectorAll("form[data-confirm]").forEach((form) => {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
});

// The live log of a test: Server-Sent Events from the lines already shown onwards (the SSE id is the
// LOGS stream sequence, so the browser's automatic reconnect resumes without gaps or duplicates).
const log = document.getElementById("live-log");
if (log && !log.dataset.final) {
  const url = `/api/v1/tests/${encodeURIComponent(log.dataset.test)}/logs?after=${log.dataset.after || 0}`;
  const source = new EventSource(url);
  const append = (event) => {
    const line = document.createElement("span");
    line.className = event.type;
    line.dataset.seq = event.lastEventId;
    line.textContent = event.data;
    log.appendChild(line);
    log.scrollTop = log.scrollHeight;
  };
  source.addEventListener("kitt", append);
  source.addEventListener("engine", append);
  source.addEventListener("status", (event) => {
    document.getElementById("test-status").textContent = event.data;
  });
  source.addEventListener("end", (event) => {
    source.close();
    const status = document.getElementById("test-status");
    status.textContent = event.data;
    status.className = `status ${event.data}`;
    const cancel = document.getElementById("cancel-form");
    if (cancel) cancel.remove();
    fetch(`/api/v1/tests/${encodeURIComponent(log.dataset.test)}`, { credentials: "same-origin" })
      .then((r) => r.json())
      .then((test) => {
        if (test.run_id) {
          document.getElementById("test-run").innerHTML = "· ";
          const a = document.createElement("a");
          a.href = `/runs/${encodeURIComponent(test.run_id)}`;
          a.textContent = "the run";
          document.getElementById("test-run").appendChild(a);
        }
      });
  });
}


// A campaign's page: its log lines as they are written, item statuses refreshed, the rollup at the end.
const campaignLog = document.getElementById("campaign-log");
if (campaignLog && !campaignLog.dataset.final) {
  const id = encodeURIComponent(campaignLog.dataset.campaign);
  const source = new EventSource(`/api/v1/campaigns/${id}/logs?after=${campaignLog.dataset.after || 0}`);
  const refresh = () =>
    fetch(`/api/v1/campaigns/${id}`, { credentials: "same-origin" })
      .then((r) => r.json())
      .then((detail) => {
        document.getElementById("campaign-status").textContent = detail.campaign.status;
        document.getElementById("campaign-progress").textContent =
          `${detail.campaign.finished_items}/${detail.campaign.total_items}`;
        for (const item of detail.items) {
          const row = document.querySelector(`#items tr[data-key="${item.key}"] .item-status .status`);
          if (row) {
            row.textContent = item.status;
            row.className = `status ${item.status}`;
          }
        }
      });
  source.addEventListener("campaign", (event) => {
    const line = document.createElement("span");
    line.dataset.seq = event.lastEventId;
    line.textContent = event.data;
    campaignLog.appendChild(line);
    campaignLog.scrollTop = campaignLog.scrollHeight;
    refresh();
  });
  source.addEventListener("end", () => {
    source.close();
    window.location.reload(); // the final rollup (charts and figures) is drawn by the server
  });
}

// The wizard's model list: a search box that hides what does not match.
for (const box of document.querySelectorAll("input[data-filter]")) {
  box.addEventListener("input", () => {
    const needle = box.value.toLowerCase();
    for (const label of document.querySelectorAll(box.dataset.filter)) {
      label.hidden = needle !== "" && !label.textContent.toLowerCase().includes(needle);
    }
  });
}
