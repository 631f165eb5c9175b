// What every dashboard view shares: its interface to the router, and the model-version picker.
import type { Me } from "../api/client";
import type { Spis } from "./api";
import { el } from "./dom";

export interface ViewContext {
  person: Me;
  /** Show another view (or the same with other parameters). */
  go(view: string, params?: Record<string, string>): void;
}

export interface View {
  title: string;
  render(root: HTMLElement, params: URLSearchParams, ctx: ViewContext): Promise<void>;
}

/** A select of the gated model versions (newest first), the champion marked. */
export function versionPicker(
  spis: Spis,
  current: string | null,
  onPick: (version: string) => void,
): HTMLSelectElement {
  const versions = [...spis.versions].reverse();
  const picker = el("select", { id: "version", "aria-label": "model version" });
  if (current && !versions.some((v) => v.model_version === current)) {
    picker.append(new Option(`${current} (not gated)`, current));
  }
  for (const v of versions) {
    const label = `${v.model_version}${v.champion ? " (champion)" : ""} · ${v.top_status}`;
    picker.append(new Option(label, v.model_version));
  }
  if (current) picker.value = current;
  picker.addEventListener("change", () => onPick(picker.value));
  return picker;
}
