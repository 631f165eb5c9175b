// The labelling and review tool: log in, take the next task, label (annotators) or judge
// (reviewers), with every edit autosaved through the versioned API.
import "./style.css";
import {
  ApiError,
  forgetToken,
  login,
  me,
  nextTask,
  releaseOnLeave,
  storedToken,
  type Lease,
  type Me,
} from "./api/client";
import { Labeller } from "./labeller";
import { Reviewer } from "./reviewer";

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

type Mode = "annotate" | "review" | "adjudicate";
const MODE_NAMES: Record<Mode, string> = { annotate: "Labelling", review: "Review", adjudicate: "Adjudication" };
let session: Labeller | Reviewer | null = null;

function showLogin(message = ""): void {
  $("login").hidden = false;
  $("workspace").hidden = true;
  $("login-error").textContent = message;
}

function modesOf(person: Me): Mode[] {
  const modes: Mode[] = [];
  if (person.permissions.includes("label")) modes.push("annotate");
  if (person.permissions.includes("review")) modes.push("review");
  // the senior panel: escalated and disagreeing overlap tasks, in the review view
  if (person.permissions.includes("adjudicate")) modes.push("adjudicate");
  return modes;
}

async function enter(person: Me): Promise<void> {
  $("login").hidden = true;
  $("workspace").hidden = false;
  $("who").textContent = `${person.name} (${person.role})`;
  // the safety case and operations dashboards (dashboard.html), for roles that read evidence
  $("dashboards").hidden = !person.permissions.includes("read_evidence");
  const modes = modesOf(person);
  const picker = $<HTMLSelectElement>("mode");
  picker.replaceChildren(
    ...modes.map((m) => new Option(MODE_NAMES[m], m)),
  );
  picker.disabled = modes.length < 2;
  if (modes.length === 0) {
    $("status").textContent = `${person.role} accounts neither label nor review`;
    return;
  }
  const wanted = new URLSearchParams(window.location.search).get("mode") as Mode | null;
  picker.value = wanted && modes.includes(wanted) ? wanted : modes[0];
  picker.onchange = () => void openNext(picker.value as Mode);
  await openNext(picker.value as Mode);
}

async function openNext(mode: Mode): Promise<void> {
  document.body.dataset.openAt = String(performance.now());
  session?.close();
  session = null;
  // adjudication is the review view deciding for the senior panel
  document.body.dataset.mode = mode === "adjudicate" ? "review" : mode;
  document.body.dataset.stage = mode;
  $("status").textContent = "asking for the next task…";
  let lease: Lease | null;
  let reason: string;
  try {
    ({ lease, reason } = await nextTask(mode));
  } catch (err) {
    $("status").textContent = err instanceof Error ? err.message : String(err);
    return;
  }
  if (!lease) {
    $("status").textContent = `nothing waiting: ${reason}`;
    $("task").textContent = "—";
    return;
  }
  $("status").textContent = "";
  session =
    mode === "annotate"
      ? new Labeller(lease, () => void openNext(mode))
      : new Reviewer(lease, () => void openNext(mode), mode);
  await session.open();
}

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = $<HTMLInputElement>("name").value;
  const password = $<HTMLInputElement>("password").value;
  login(name, password)
    .then(enter)
    .catch((err: unknown) =>
      showLogin(err instanceof ApiError && err.status === 401 ? "wrong name or password" : String(err)),
    );
});

$("logout").addEventListener("click", () => {
  if (session) releaseOnLeave(session.lease.assignment_id);
  session?.close();
  session = null;
  forgetToken();
  showLogin();
});

// The person leaves (closes the tab, navigates away, reloads): the lease goes back at once, so
// the task is anyone's without waiting for the lease to lapse; a reload gets it back (the queue
// resumes a given-back task for its holder while nobody has taken it), with the saved work.
window.addEventListener("pagehide", () => {
  if (session) releaseOnLeave(session.lease.assignment_id);
});
// back from the browser's page cache: the lease was given back when the page was hidden
window.addEventListener("pageshow", (event) => {
  if (event.persisted && session) window.location.reload();
});
// edits not saved yet (autosave waits 1.5 s after an edit): ask before leaving
window.addEventListener("beforeunload", (event) => {
  if (session instanceof Labeller && ["unsaved", "saving"].includes(session.saver.state)) {
    event.preventDefault();
  }
});

$("leave").addEventListener("click", () => {
  if (!session) return;
  const mode = session instanceof Labeller ? "annotate" : session.stage;
  void session.leave().then(() => {
    session = null;
    $("status").textContent = `task left; its saved work stays. Next task: choose ${mode} again`;
  });
});

// the open session, for the speed benchmark (benchmarks/bench_annotator.py) to orbit its camera
Object.defineProperty(window, "longtailSession", { get: () => session });

if (storedToken()) {
  me().then(enter, () => showLogin());
} else {
  showLogin();
}
