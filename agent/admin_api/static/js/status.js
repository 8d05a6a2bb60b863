// The status line: AMI link, calls in progress, deliveries pending; polled every few seconds.

const INTERVAL_MS = 4000;

function number(value) {
  return typeof value === "number" ? value : (value === undefined || value === null ? "?" : Number(value));
}

/** Pull the three numbers out of /api/v1/status, tolerating nested or flat shapes. */
export function summarize(status) {
  const ami = status.ami || {};
  const connected = typeof ami === "object" ? Boolean(ami.connected) : Boolean(status.ami_connected);
  const outbox = status.outbox_depth ?? status.deliveries_pending ?? (status.outbox && status.outbox.depth);
  return { connected, calls: number(status.calls_in_progress), outbox: number(outbox) };
}

function paint(line, summary) {
  const ami = line.querySelector('[data-status="ami"]');
  ami.classList.toggle("up", summary.connected);
  ami.classList.toggle("down", !summary.connected);
  setText(ami.querySelector(".text"), summary.connected ? "AMI connected" : "AMI not connected");
  setText(line.querySelector('[data-status="calls"]'), `Calls in progress: ${summary.calls}`);
  setText(line.querySelector('[data-status="outbox"]'), `Deliveries pending: ${summary.outbox}`);
  line.classList.remove("stale");
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

export function startStatus(line, api) {
  let timer = null;
  const tick = async () => {
    if (document.visibilityState === "hidden") {
      timer = setTimeout(tick, INTERVAL_MS);
      return;
    }
    try {
      paint(line, summarize(await api.get("/status")));
    } catch {
      line.classList.add("stale");
      setText(line.querySelector('[data-status="ami"] .text'), "Agent not reachable");
    }
    timer = setTimeout(tick, INTERVAL_MS);
  };
  tick();
  return () => clearTimeout(timer);
}
