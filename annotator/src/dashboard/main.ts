// The dashboards (safety case, SPIs, SOTIF, release, release diff, operations): the app's own login
// and roles; the views are picked by the URL's hash (#/case, #/spis, #/sotif, #/release, #/diff,
// #/ops, with ?version=... or ?base=...&target=...), so a
// printed or bookmarked URL opens the same view. People whose role does not read evidence (the
// API answers them 403) see no view; the labelling tool is theirs.
import "./dashboard.css";
import { ApiError, forgetToken, login, me, storedToken, type Me } from "../api/client";
import { caseView } from "./case_view";
import { diffView } from "./diff_view";
import { destroyAll } from "./charts";
import { opsView } from "./ops_view";
import { releaseView } from "./release_view";
import { sotifView } from "./sotif_view";
import { spisView } from "./spis_view";
import type { View, ViewContext } from "./view";

const VIEWS: Record<string, View> = {
  case: caseView,
  spis: spisView,
  sotif: sotifView,
  release: releaseView,
  diff: diffView,
  ops: opsView,
};
/** What a person needs to see the dashboards (the API checks the same on every call). */
export const NEEDED = "read_evidence";

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
let person: Me | null = null;

function parseHash(): { name: string; params: URLSearchParams } {
  const [path, query] = window.location.hash.replace(/^#\/?/, "").split("?");
  return { name: VIEWS[path] ? path : "case", params: new URLSearchParams(query ?? "") };
}

const ctx = (who: Me): ViewContext => ({
  person: who,
  go(view, params = {}) {
    const query = new URLSearchParams(params).toString();
    const target = `#/${view}${query ? `?${query}` : ""}`;
    if (window.location.hash === target) void show();
    else window.location.hash = target;
  },
});

async function show(): Promise<void> {
  if (!person) return;
  const { name, params } = parseHash();
  const view = VIEWS[name];
  document.body.dataset.ready = "0";
  document.body.dataset.view = name;
  document.title = `Longtail · ${view.title}`;
  for (const a of document.querySelectorAll<HTMLAnchorElement>("#nav a[data-view]")) {
    a.classList.toggle("current", a.dataset.view === name);
  }
  destroyAll();
  const root = $("view");
  root.replaceChildren();
  $("error").hidden = true;
  try {
    await view.render(root, params, ctx(person));
  } catch (err) {
    $("error").hidden = false;
    $("error").textContent = err instanceof ApiError ? `${err.status}: ${err.detail}` : String(err);
  }
  document.body.dataset.ready = "1";
}

function showLogin(message = ""): void {
  person = null;
  $("login").hidden = false;
  $("board").hidden = true;
  $("login-error").textContent = message;
}

async function enter(who: Me): Promise<void> {
  $("login").hidden = true;
  $("board").hidden = false;
  $("who").textContent = `${who.name} (${who.role})`;
  $<HTMLAnchorElement>("to-labelling").hidden = !who.permissions.some(
    (p) => p === "label" || p === "review",
  );
  if (!who.permissions.includes(NEEDED)) {
    person = null;
    $("nav").hidden = true;
    $("view").replaceChildren();
    $("refused").hidden = false;
    $("refused").textContent =
      `${who.name} (${who.role}) may not read the safety case or the operations figures: they are for senior reviewers, admins and safety engineers.`;
    document.body.dataset.ready = "1";
    document.body.dataset.view = "refused";
    return;
  }
  person = who;
  $("refused").hidden = true;
  $("nav").hidden = false;
  await show();
}

$("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  login($<HTMLInputElement>("name").value, $<HTMLInputElement>("password").value)
    .then(enter)
    .catch((err: unknown) =>
      showLogin(
        err instanceof ApiError && err.status === 401 ? "wrong name or password" : String(err),
      ),
    );
});

$("logout").addEventListener("click", () => {
  forgetToken();
  destroyAll();
  showLogin();
});

window.addEventListener("hashchange", () => void show());

if (storedToken()) {
  me().then(enter, () => showLogin());
} else {
  showLogin();
}
