// Writ approvals page: list requests, long-poll for changes, Approve or Deny.
// Everything from a request is set with textContent: a request comes from an agent
// and is never trusted as markup.
"use strict";

const token = document.querySelector('meta[name="writ-token"]').content;
let version = -1;

function text(card, field, value) {
  card.querySelector(`[data-field="${field}"]`).textContent = value;
}

function render(item) {
  const card = document.getElementById("request-card").content.firstElementChild.cloneNode(true);
  card.dataset.id = item.id;
  card.dataset.status = item.status;
  card.classList.add(item.status);
  text(card, "status", item.status);
  text(card, "summary", item.summary);
  text(card, "tool", item.tool);
  text(card, "args", JSON.stringify(item.args, null, 2));
  text(card, "audience", item.audience);
  text(card, "principal", item.chain.principal || "(not reported)");
  text(card, "purpose", item.chain.purpose || "(none)");
  text(card, "agent", item.chain.agent);
  text(card, "needs", item.needs);
  text(card, "expires", `${item.expires_at}${item.expired ? " (expired)" : ""}`);
  const open = item.status === "pending";
  let note = "";
  if (open && !item.may_sign) note = "Your key is not one of this request's approvers.";
  if (item.status === "expired") note = "Expired: the agent must ask again.";
  text(card, "note", note);
  const approve = card.querySelector('[data-action="approve"]');
  const deny = card.querySelector('[data-action="deny"]');
  approve.disabled = !open || !item.may_sign;
  deny.disabled = !open;
  approve.addEventListener("click", () => decide(item.id, "approve", card));
  deny.addEventListener("click", () => decide(item.id, "deny", card));
  return card;
}

function show(list) {
  const ul = document.getElementById("requests");
  ul.replaceChildren(...list.map(render));
  document.getElementById("empty").hidden = list.length > 0;
}

async function decide(id, action, card) {
  for (const b of card.querySelectorAll("button")) b.disabled = true;
  const response = await fetch(`/api/requests/${encodeURIComponent(id)}/${action}`, {
    method: "POST",
    headers: { "X-Writ-Token": token },
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({ error: response.statusText }));
    text(card, "note", body.error || "refused");
    card.dataset.error = "true";
  }
  await refresh(0);
}

async function refresh(wait) {
  const response = await fetch(`/api/requests?after=${version}&wait=${wait}`);
  if (!response.ok) throw new Error(`${response.status}`);
  const body = await response.json();
  version = body.version;
  show(body.requests);
}

async function loop() {
  for (;;) {
    try {
      await refresh(25);
    } catch (err) {
      // The server went away or restarted: back off instead of spinning.
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}

loop();
