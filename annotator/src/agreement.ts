// The other annotators' boxes of an overlap task in the review and adjudication views, each
// coloured by how it agrees with the labels being judged (GET /work/{id}/agreement: the
// server's matcher and its one box IoU, backend/annotation/box_agreement.py), with a legend
// and per-annotator counts in the side panel.
import type { BoxLabel, Lease, Schemas } from "./api/client";
import type { BoxStyle } from "./scene";

export type AgreementSet = Schemas["AgreementOut"];
type Status = Schemas["BoxAgreementOut"]["status"];

/** what each status means and its colour (drawn dashed: these boxes are not being judged) */
export const AGREEMENT: Record<Status, { colour: number; text: string }> = {
  agree: { colour: 0x2ecc71, text: "agrees (same class, IoU at the class threshold)" },
  class: { colour: 0xb47cff, text: "same object, another class" },
  low_iou: { colour: 0xffd60a, text: "overlaps, IoU below the threshold" },
  unmatched: { colour: 0xff3b3b, text: "no box of the judged labels there" },
};
const ORDER: Status[] = ["agree", "class", "low_iou", "unmatched"];

const hex = (colour: number) => `#${colour.toString(16).padStart(6, "0")}`;

/** One other annotator's box, its agreement and who drew it. */
export interface OtherBox {
  box: BoxLabel;
  status: Status;
  iou: number;
  author: string;
}

/** The other annotators' boxes of `frameId` with their agreement (boxes the server did not
 * judge are left out: they cannot be coloured truthfully). */
export function otherBoxes(lease: Lease, sets: AgreementSet[], frameId: string): OtherBox[] {
  const out: OtherBox[] = [];
  for (const set of sets) {
    const labels = lease.others.find((o) => o.id === set.label_set_id);
    const boxes = ((labels?.labels.boxes ?? []) as BoxLabel[]).filter((b) => b.frame_id === frameId);
    const judged = new Map(set.boxes.map((a) => [a.box_id, a]));
    for (const box of boxes) {
      const found = judged.get(box.id);
      if (found) out.push({ box, status: found.status, iou: found.iou, author: set.author });
    }
  }
  return out;
}

/** The box layer of the other annotators' boxes, each in its agreement colour; agreeing
 * boxes first, so that a disagreement drawn at the same place stays on top. */
export function agreementLayer(others: OtherBox[]): Array<{ box: BoxLabel; style: BoxStyle }> {
  return [...others]
    .sort((a, b) => ORDER.indexOf(a.status) - ORDER.indexOf(b.status))
    .map((o) => ({ box: o.box, style: { colour: AGREEMENT[o.status].colour, dashed: true } }));
}

/** The side panel's legend and per-annotator counts (hidden when there are no other boxes). */
export function renderAgreement(container: HTMLElement, sets: AgreementSet[], others: OtherBox[]): void {
  container.hidden = sets.length === 0;
  const swatch = (status: Status) => {
    const s = document.createElement("span");
    s.className = "swatch";
    s.style.cssText = `display:inline-block;width:0.8em;height:0.8em;margin-right:0.4em;background:${hex(AGREEMENT[status].colour)}`;
    return s;
  };
  const title = document.createElement("h3");
  title.textContent = "Other annotators (dashed), by agreement";
  const legend = document.createElement("ul");
  legend.id = "agreement-legend";
  legend.append(
    ...ORDER.map((status) => {
      const li = document.createElement("li");
      li.dataset.status = status;
      li.append(swatch(status), AGREEMENT[status].text);
      return li;
    }),
  );
  const counts = document.createElement("ul");
  counts.id = "agreement-counts";
  counts.append(
    ...sets.map((set) => {
      const mine = others.filter((o) => o.author === set.author);
      const li = document.createElement("li");
      li.dataset.author = set.author;
      li.textContent =
        `${set.author}: ` +
        ORDER.map((s) => `${mine.filter((o) => o.status === s).length} ${s.replace("_", " ")}`).join(" · ");
      return li;
    }),
  );
  container.replaceChildren(title, legend, counts);
}
